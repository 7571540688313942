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

/// One finished exchange, as the access log and the request metrics see it.
struct ExchangeRecord: Sendable {
    var method: String
    /// The request target as received (logs only: never a metric label).
    var target: String
    var route: String?
    var status: Int
    var outcome: CacheOutcome
    var duration: Duration
}

/// What the proxy counts. The exchange and the stores report events here; the admin
/// listener exposes them (/metrics, /stats). Labels are route *names* and closed sets
/// only, never raw paths.
///
/// Call sites are on the hit path: implementations must not allocate or take a lock
/// per event that they could avoid (pre-create per route and label value).
final class ProxyMetrics: Sendable {
    init() {}

    /// One finished request (`route` nil: no cache route matched). Also the access log's line.
    func finished(_ record: ExchangeRecord) {}
    func bypass(route: String, reason: BypassReason) {}
    /// A request that waited for another request's fill instead of fetching.
    func coalesced(route: String) {}
    func purged(source: PurgeSource, count: Int) {}
    func upstream(route: String?, seconds: Double) {}
    func upstreamError(route: String?, kind: String) {}
    /// `store`: "memory" or "redis".
    func storeError(store: String) {}
}
