/// What to do with a stored entry for one request. Pure: timing, route, the request's
/// own directives (heeded only on `ttl: "origin"` routes) and `now` decide.
public enum ServeDecision: Sendable, Equatable {
    /// Serve it.
    case fresh
    /// Serve it stale at once and refresh it once in the background.
    case staleWhileRevalidate
    /// Serve it stale: the request's `max-stale` takes it (origin routes, RFC 9111
    /// §5.2.1.2), and the answer's own directives allow it.
    case staleAccepted
    /// Go upstream (conditionally if the entry has validators); the entry may still
    /// answer if that fails and it is within its stale-if-error window.
    case fetch

    /// `fetchedWhileWaiting`: the entry is one a fill stored while this request waited on
    /// it (RFC 9111 §4, collapsed requests); a request's `no-cache`, `max-age` or
    /// `min-fresh` asks for no fresher than that. Browser reloads send them: ten at once
    /// made one fill and then ten more fetches, one per waiter. `forbidsStale`: the
    /// stored answer's directives forbid serving it stale (`StoragePolicy.forbidsStale`),
    /// asked only when a `max-stale` could serve it.
    public static func decide(_ timing: EntryTiming, now: Timestamp, route: Route, request: some HeaderFields,
                              fetchedWhileWaiting: Bool = false, forbidsStale: () -> Bool = { true }) -> ServeDecision {
        var maxStale: Int64?
        if case .origin = route.ttl, !fetchedWhileWaiting {
            let cc = requestDirectives(request)
            if cc.noCache { return .fetch }
            if let maxAge = cc.maxAge, timing.age(at: now) > .seconds(maxAge) { return .fetch }
            if let minFresh = cc.minFresh, timing.remaining(at: now) < .seconds(minFresh) { return .fetch }
            maxStale = cc.maxStale
        }
        if timing.isFresh(at: now) { return .fresh }
        if now < timing.staleWhileRevalidateUntil { return .staleWhileRevalidate }
        if let maxStale, now - timing.freshUntil <= .seconds(maxStale), !forbidsStale() { return .staleAccepted }
        return .fetch
    }

    /// Whether a failed fetch (connect error, timeout, 5xx) may be answered with the entry.
    public static func staleIfError(_ timing: EntryTiming, now: Timestamp) -> Bool {
        now < timing.staleIfErrorUntil
    }

    /// Request directives, with `Pragma: no-cache` standing in for `Cache-Control: no-cache`
    /// when the request has no Cache-Control (RFC 9111 §5.4).
    public static func requestDirectives(_ request: some HeaderFields) -> CacheControl {
        let values = request.all("cache-control")
        var cc = CacheControl(values)
        if values.isEmpty, request.all("pragma").contains(where: { $0.lowercased().contains("no-cache") }) {
            cc.noCache = true
        }
        return cc
    }
}
