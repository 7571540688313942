/// When a stored answer is fresh, may be served stale, and must be gone. Wall-clock.
public struct EntryTiming: Sendable, Equatable {
    /// The instant the answer's age was zero (response time minus its initial age): `Age` = now − birth.
    public var birth: Timestamp
    public var freshUntil: Timestamp
    public var staleWhileRevalidateUntil: Timestamp
    public var staleIfErrorUntil: Timestamp
    /// Kept (never served) until then, so a conditional request can revalidate it
    /// cheaply: one more lifetime for answers with an ETag or Last-Modified.
    public var revalidateUntil: Timestamp

    public init(birth: Timestamp, freshUntil: Timestamp, staleWhileRevalidateUntil: Timestamp, staleIfErrorUntil: Timestamp,
                revalidateUntil: Timestamp? = nil) {
        self.birth = birth
        self.freshUntil = freshUntil
        self.staleWhileRevalidateUntil = staleWhileRevalidateUntil
        self.staleIfErrorUntil = staleIfErrorUntil
        self.revalidateUntil = revalidateUntil ?? freshUntil
    }

    /// After this nothing may serve the entry, stale or not.
    public var expiresAt: Timestamp { max(freshUntil, staleWhileRevalidateUntil, staleIfErrorUntil) }

    /// After this the store may drop the entry.
    public var keepUntil: Timestamp { max(expiresAt, revalidateUntil) }

    public func isFresh(at now: Timestamp) -> Bool { now < freshUntil }

    /// The timing of an entry soft-purged at `since` (`"mode": "stale"`): expired then,
    /// its stale windows counted from then, as if its freshness had ended at that moment.
    public func expired(at since: Timestamp) -> EntryTiming {
        guard since < freshUntil else { return self }
        let end = max(since, birth)
        return EntryTiming(birth: birth, freshUntil: end,
                           staleWhileRevalidateUntil: end + max(.zero, staleWhileRevalidateUntil - freshUntil),
                           staleIfErrorUntil: end + max(.zero, staleIfErrorUntil - freshUntil),
                           revalidateUntil: revalidateUntil)
    }

    /// The timing as `route` serves it now: on a duration route no fresher than its
    /// current `ttl` from birth, the stale windows kept as long from there (`expired`).
    /// The `ttl` is the operator's ceiling (DESIGN), also for entries stored before a
    /// reload lowered it, or by an instance that still runs the old config: lowered
    /// to `"2s"`, or to `"0s"` to stop caching a route, its entries were served as
    /// fresh for the rest of their old lifetime.
    public func within(_ route: Route) -> EntryTiming {
        guard let ceiling = route.freshnessCeiling, birth.milliseconds &+ ceiling < freshUntil.milliseconds else { return self }
        return expired(at: Timestamp(milliseconds: birth.milliseconds &+ ceiling))
    }

    public func age(at now: Timestamp) -> Duration { max(.zero, now - birth) }
    public func remaining(at now: Timestamp) -> Duration { freshUntil - now }

    /// Whole seconds since the entry's birth, never negative: what `Age` says. Counted
    /// in integer milliseconds, as every hit prints it and `Duration`'s arithmetic is
    /// 128-bit.
    /// Never past 2^31 (RFC 9111 §1.2.2: what a cache sends for an age it cannot count
    /// that high): an upstream `Date` of year 1 gave `Age: 63932019951`.
    public func ageSeconds(at now: Timestamp) -> Int64 {
        min(max(0, now.milliseconds &- birth.milliseconds) / 1000, deltaSecondsCeiling)
    }

    /// Whole seconds of freshness left, negative once stale: what a hit's `ttl=` says.
    public func remainingSeconds(at now: Timestamp) -> Int64 { (freshUntil.milliseconds &- now.milliseconds) / 1000 }
}

public enum StorageDecision: Sendable, Equatable {
    case store(EntryTiming)
    case skip(NotStoredReason)
}

/// Decides whether an upstream answer may be stored, and for how long. Pure: the
/// caller passes the request and response facts and the times around the fetch.
public enum StoragePolicy {
    /// The longest an entry is kept past freshness only to be revalidated.
    public static let maxRevalidationKeep = Duration.seconds(86_400)
    /// How long a `no-cache` answer (origin routes) is kept for revalidation.
    public static let noCacheKeep = Duration.seconds(3600)

    /// Request headers the upstream reads as the proxy writes them, not as the client
    /// sent them: `X-Forwarded-For` ends in the client's address, and a request without
    /// `X-Request-Id` gets a new one. A key sees the client's (usually none), so keyed on
    /// them every client would share one client's answer.
    static let proxyWritten: Set<String> = ["x-forwarded-for", "x-request-id"]

    /// Statuses a fixed-TTL route stores.
    public static let storableStatuses: Set<Int> = [200, 203, 204, 300, 301, 308, 404, 410]

    /// `varyHeaders`: headers learned for the route and already part of the key.
    public static func decide(route: Route, requestHeaders: some HeaderFields, status: Int,
                              responseHeaders: some HeaderFields, requestTime: Timestamp,
                              responseTime: Timestamp, varyHeaders: [String] = []) -> StorageDecision {
        // Never, whatever the route says.
        if responseHeaders.contains("set-cookie") { return .skip(.setCookie) }
        // A `Content-Range` says the body is part of a representation, whatever the status
        // (fills ask for whole ones): a range of it served later would carry two.
        if status < 200 || status > 599 || status == 206 || status == 304 || responseHeaders.contains("content-range") {
            return .skip(.status)
        }
        let vary = varyNames(responseHeaders)
        // An answer that varies on what no request header can reproduce is one client's,
        // like `*`: a header the proxy writes itself (`proxyWritten`), or a member that is
        // not a field name (`X-Role X-Tenant`, commas missing): keyed, it names no header
        // any request carries, so every client would share the first one's answer.
        if vary.contains(where: { $0 == "*" || proxyWritten.contains($0) || !($0.isEmpty || isFieldName($0)) })
            || route.keyHeaders.contains(where: proxyWritten.contains) {
            return .skip(.varyStar)
        }
        // Vary on a header the key does not include would let one variant answer for another.
        if !uncoveredVary(vary, route: route, varyHeaders: varyHeaders).isEmpty { return .skip(.vary) }
        if route.policy.compress ? ContentCoding.refuses(responseHeaders)
            : !ContentCoding.everyClientReads(responseHeaders, keyedOn: route.keyHeaders + varyHeaders, request: requestHeaders) {
            return .skip(.encoding)
        }

        let (cc, source) = directivesAndSource(responseHeaders)
        let initialAge = correctedInitialAge(responseHeaders, requestTime: requestTime, responseTime: responseTime,
                                             byDate: route.ttl == .origin)
        let birth = responseTime - initialAge
        let lifetime: Duration
        var sWR = route.policy.staleWhileRevalidate
        var sIE = route.policy.staleIfError

        switch route.ttl {
        case .fixed(let ttl) where route.override:
            guard storableStatuses.contains(status) else { return .skip(.status) }
            lifetime = ttl
        case .fixed(let ttl):
            guard storableStatuses.contains(status) else { return .skip(.status) }
            if let refusal = refusal(cc) { return .skip(refusal) }
            // DESIGN: on duration routes `Cache-Control`'s `no-store`, `private` and
            // `no-cache` prevent storing unless `override`. A targeted field does not
            // lift them: an upstream whose middleware adds `Sidecache-Cache-Control` to
            // every answer would have its per-user `private` ones shared.
            if source != "cache-control", let refusal = refusal(CacheControl(responseHeaders.all("cache-control"))) {
                return .skip(refusal)
            }
            lifetime = min(ttl, explicitLifetime(cc, from: source, responseHeaders, received: responseTime) ?? ttl)
            (sWR, sIE) = staleWindows(cc, route: route)
        case .origin:
            if CacheControl(requestHeaders.all("cache-control")).noStore { return .skip(.noStore) }
            if cc.noCache && !cc.noStore && !cc.isPrivate {
                // RFC 9111 §5.2.2.4: may be stored, never served without revalidation.
                guard responseHeaders.contains("etag") || responseHeaders.contains("last-modified") else { return .skip(.noCache) }
                if requestHeaders.contains("authorization") && !(cc.isPublic || cc.sMaxAge != nil || cc.mustRevalidate) {
                    return .skip(.authorization)
                }
                return .store(EntryTiming(birth: birth, freshUntil: birth, staleWhileRevalidateUntil: birth,
                                          staleIfErrorUntil: birth, revalidateUntil: responseTime + noCacheKeep))
            }
            if let refusal = refusal(cc) { return .skip(refusal) }
            if requestHeaders.contains("authorization") && !(cc.isPublic || cc.sMaxAge != nil || cc.mustRevalidate) {
                return .skip(.authorization)
            }
            guard let explicit = explicitLifetime(cc, from: source, responseHeaders, received: responseTime) else {
                return .skip(.noFreshness)
            }
            lifetime = explicit
            (sWR, sIE) = staleWindows(cc, route: route)
            if cc.sMaxAge != nil {
                // RFC 9111 §5.2.2.10, §4.2.4: s-maxage carries proxy-revalidate for a
                // shared cache: only the upstream's own stale directives apply, not the route's.
                (sWR, sIE) = (.seconds(cc.staleWhileRevalidate ?? 0), .seconds(cc.staleIfError ?? 0))
            }
        }

        let freshUntil = birth + lifetime
        let hasValidator = responseHeaders.contains("etag") || responseHeaders.contains("last-modified")
        let timing = EntryTiming(birth: birth, freshUntil: freshUntil,
                                 staleWhileRevalidateUntil: freshUntil + sWR, staleIfErrorUntil: freshUntil + sIE,
                                 revalidateUntil: hasValidator ? freshUntil + min(lifetime, maxRevalidationKeep) : freshUntil)
        guard timing.keepUntil > responseTime else { return .skip(.noFreshness) }
        return .store(timing)
    }

    /// The `Vary` headers (lowercased) the key does not cover yet. A compressing route
    /// covers `Accept-Encoding` itself: one gzip entry serves every client.
    public static func uncoveredVary(_ vary: [String], route: Route, varyHeaders: [String]) -> [String] {
        vary.filter { $0 != "*" && !$0.isEmpty && !route.keyHeaders.contains($0) && !varyHeaders.contains($0)
            && !(route.policy.compress && $0 == "accept-encoding") }
    }

    /// `Vary` field names of a response, lowercased.
    public static func varyNames(_ headers: some HeaderFields) -> [String] {
        headers.all("vary").flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces().lowercased() }
    }

    /// The directives addressed to us: `Sidecache-Cache-Control`, else `CDN-Cache-Control`
    /// (RFC 9213; Structured Field Dictionaries, one that does not parse ignored), else
    /// `Cache-Control`.
    public static func directives(_ headers: some HeaderFields) -> CacheControl {
        directivesAndSource(headers).directives
    }

    /// The directives, and the field they came from.
    static func directivesAndSource(_ headers: some HeaderFields) -> (directives: CacheControl, field: String) {
        for field in ["sidecache-cache-control", "cdn-cache-control"] {
            let values = headers.all(field)
            if !values.isEmpty, let targeted = CacheControl(targeted: values) { return (targeted, field) }
        }
        return (CacheControl(headers.all("cache-control")), "cache-control")
    }

    /// RFC 9111 §4.2.4: an answer that must not be served stale without revalidation,
    /// whatever the client accepts: `no-cache`, `must-revalidate`, `proxy-revalidate`,
    /// or `s-maxage` (which carries `proxy-revalidate` for a shared cache, §5.2.2.10).
    public static func forbidsStale(_ headers: some HeaderFields) -> Bool {
        let cc = directivesAndSource(headers).directives
        return cc.noCache || cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge != nil
    }

    static func refusal(_ cc: CacheControl) -> NotStoredReason? {
        if cc.noStore { return .noStore }
        if cc.isPrivate { return .private }
        if cc.noCache { return .noCache }
        return nil
    }

    /// s-maxage, else max-age, else Expires − Date. An invalid Expires means already
    /// stale; a missing or invalid Date is taken as the time the answer was received.
    /// Directives from a targeted field (`field`) leave Expires aside, as they do
    /// Cache-Control (RFC 9213 §2.2).
    static func explicitLifetime(_ cc: CacheControl, from field: String, _ headers: some HeaderFields,
                                 received: Timestamp) -> Duration? {
        if let s = cc.sMaxAge ?? cc.maxAge { return .seconds(s) }
        guard field == "cache-control", let expiresText = headers.first("expires") else { return nil }
        guard let expires = HTTPDate.parse(expiresText) else { return .zero }
        let date = headers.first("date").flatMap(HTTPDate.parse) ?? received
        // At most what `max-age` could say (RFC 9111 §1.2.2).
        return min(max(.zero, expires - date), .seconds(deltaSecondsCeiling))
    }

    /// The route's windows and the upstream's own directives, whichever is longer;
    /// none when the upstream demands revalidation.
    static func staleWindows(_ cc: CacheControl, route: Route) -> (Duration, Duration) {
        if cc.mustRevalidate || cc.proxyRevalidate || cc.noCache { return (.zero, .zero) }
        return (max(route.policy.staleWhileRevalidate, .seconds(cc.staleWhileRevalidate ?? 0)),
                max(route.policy.staleIfError, .seconds(cc.staleIfError ?? 0)))
    }

    /// RFC 9111 §4.2.3: the age the answer already had when it arrived. `byDate`: also
    /// the apparent age, the receipt time less the upstream's `Date`. Only on `"origin"`
    /// routes: on a duration route it is the upstream's clock, not the answer, that a
    /// `Date` behind ours measures, and a clock one `ttl` behind made the route store
    /// nothing (nginx and Varnish do not count it either). `Age` counts on both.
    static func correctedInitialAge(_ headers: some HeaderFields, requestTime: Timestamp, responseTime: Timestamp,
                                    byDate: Bool = true) -> Duration {
        let apparent = byDate ? headers.first("date").flatMap(HTTPDate.parse).map {
            min(max(.zero, responseTime - $0), .seconds(deltaSecondsCeiling))
        } ?? .zero : .zero
        // RFC 9111 §5.1: Age is delta-seconds, anything else ("-5", "+5", "1.5") ignored;
        // of a list (a singleton field sent as one), the first member counts.
        let ageValue = headers.first("age").flatMap { age in
            deltaSeconds((age.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingSpaces())
        }.map { Duration.seconds($0) } ?? .zero
        return max(apparent, ageValue + (responseTime - requestTime))
    }
}
