import SidecacheCore

/// Where a purge came from: a closed set, used as a metric label.
enum PurgeSource: String, Sendable, CaseIterable {
    /// A purge rule or RFC 9111 §4.4 invalidation after a successful mutation.
    case mutation
    /// The admin API.
    case admin
    /// Published by another instance (`consistency: fast`).
    case remote
}

/// What the proxy counts. The exchange and the stores report events here; the admin
/// listener exposes them (/metrics, /stats). Labels are route *names* and closed sets
/// only, never raw paths.
///
/// Call sites are on the hit path: implementations must not allocate or take a lock
/// per event that they could avoid (pre-create per route and label value).
final class ProxyMetrics: Sendable {
    init() {}

    /// One answered request on a cache route (`route` nil: no route matched).
    func request(route: String?, outcome: CacheOutcome) {}
    func bypass(route: String, reason: BypassReason) {}
    /// A request that waited for another request's fill instead of fetching.
    func coalesced(route: String) {}
    func purged(source: PurgeSource, count: Int) {}
    func upstream(route: String?, seconds: Double) {}
    func upstreamError(route: String?, kind: String) {}
    /// `store`: "memory" or "redis".
    func storeError(store: String) {}
}
