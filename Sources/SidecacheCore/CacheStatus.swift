/// What the cache did with a request: the `X-Cache` value and the metric label.
public enum CacheOutcome: String, Sendable, CaseIterable {
    case hit = "HIT"
    case miss = "MISS"
    case stale = "STALE"
    case bypass = "BYPASS"

    public var label: String { rawValue.lowercased() }
}

/// Why a request on a cache route did not use the cache. Closed set: these are metric labels.
public enum BypassReason: String, Sendable, CaseIterable {
    case authorization
    case cookie
    case unsafePath = "unsafe-path"
    case requestBody = "request-body"
    case methodOverride = "method-override"
    case storeError = "store-error"
    /// The identity header or cookie appears more than once: which one the upstream
    /// reads is its own business, so no key can be sure to name the same user.
    case ambiguousIdentity = "ambiguous-identity"
    /// A `key.claims` route and no token that verifies (missing, malformed, bad
    /// signature, expired, wrong issuer or audience, a listed claim missing).
    case unverified
    /// A POST read whose body may be a GraphQL write (`RequestBodyKey.refusal`).
    case mutation
}

/// Why an upstream answer was not stored. Closed set: these are metric labels and
/// appear in `Cache-Status` as `detail=`.
public enum NotStoredReason: String, Sendable, CaseIterable {
    case status
    case setCookie = "set-cookie"
    case varyStar = "vary-star"
    case vary
    case noStore = "no-store"
    case `private`
    case noCache = "no-cache"
    case noFreshness = "no-freshness"
    case authorization
    case tooLarge = "too-large"
    case purged
    /// Strict consistency and Redis cannot take it: an entry Redis cannot vouch for is
    /// not kept in L1 either (DESIGN `store.outageGrace`).
    case storeUnavailable = "store-unavailable"
    /// A compressing route and a coding it cannot serve to every client (`ContentCoding.refuses`).
    case encoding = "content-encoding"
    /// More tags than an entry carries (`EntryTags`): a purge by one left out would miss it.
    case tooManyTags = "too-many-tags"
    /// A route with body tags and an answer they cannot be read from (not JSON, or JSON
    /// that does not parse: Python's `NaN`), or that holds a value no tag can (`a b`,
    /// `1e21`): stored without them, a purge by one of its ids would miss it.
    case untagged = "tags-unreadable"
    /// The path was spelled with escapes the key decodes (`%61` for `a`, lowercase escape
    /// hex): answered from its plain spelling's entry, never filling it.
    case spelling = "path-spelling"
    /// The bodies the process holds at once were at `limits.bodyMemory`: passed on as it
    /// came, and the next miss may store it.
    case bodyMemory = "body-memory"

    /// Kept out by the moment, not by the answer: the next fetch may well store it.
    public var passes: Bool { self == .purged || self == .storeUnavailable || self == .bodyMemory }
}

/// `Cache-Status` (RFC 9211) values for answers the proxy gives. Never carries the key.
public enum CacheStatusField {
    public static let name = "Cache-Status"

    /// `ttl` is the remaining freshness; negative for a stale answer, as RFC 9211 shows it.
    public static func hit(ttl: Duration) -> String { "sidecache; hit; ttl=\(ttl.milliseconds / 1000)" }
    /// A stored answer the upstream confirmed with a 304 just now: forwarded, so not a
    /// `hit` (RFC 9211 §2.1: a hit was not forwarded), and served from the store.
    public static func revalidated(ttl: Duration) -> String { "sidecache; fwd=stale; fwd-status=304; ttl=\(ttl.milliseconds / 1000)" }
    public static func miss(stored: Bool, notStored: NotStoredReason? = nil) -> String {
        if stored { return "sidecache; fwd=uri-miss; stored" }
        if let notStored { return "sidecache; fwd=uri-miss; detail=\(notStored.rawValue)" }
        return "sidecache; fwd=uri-miss"
    }
    /// Stored in this instance's L1 only: Redis is configured but could not take the
    /// entry (unreachable, or purges still journaled), so other instances will not hit
    /// it. A plain `stored` would claim it is shared.
    public static let missStoredLocally = "sidecache; fwd=uri-miss; stored; detail=l1-only"

    public static func bypass(_ reason: BypassReason) -> String { "sidecache; fwd=bypass; detail=\(reason.rawValue)" }

    /// Whether a value spelled as above says the answer is in the store now: a fill that
    /// stored it (here or in L1 only), a hit, or a 304 that renewed the entry. The
    /// proxy's own fetches (warming) read their answer's field to know.
    public static func inStore(_ value: some StringProtocol) -> Bool {
        params(value).contains { $0 == "stored" || $0 == "hit" || $0 == "fwd-status=304" }
    }

    /// Why a value spelled as above says its answer was not stored, if it says.
    public static func notStored(_ value: some StringProtocol) -> NotStoredReason? {
        params(value).first { $0.hasPrefix("detail=") }.flatMap { NotStoredReason(rawValue: String($0.dropFirst(7))) }
    }

    /// The parameters after the cache's name, as spelled above.
    private static func params(_ value: some StringProtocol) -> [Substring] {
        value.split(separator: ";").dropFirst().map { Substring($0.trimmingPrefix(" ")) }
    }
}
