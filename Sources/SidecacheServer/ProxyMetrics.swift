import Logging
import SidecacheConfig
import SidecacheCore
import Synchronization

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
/// Call sites are on the hit path: each event is one lock-free table lookup and one
/// relaxed atomic add (stats per route are created when a config loads, before it is
/// in force). The access log, when on, is the only per-request allocation.
final class ProxyMetrics: Sendable {
    let routes: RouteStatsTable
    let global = GlobalStats()
    let export: PrometheusExport
    private let accessLog: Atomic<Bool>
    private let logger: Logger

    init(config: Config, logger: Logger) {
        let export = PrometheusExport()
        self.export = export
        self.routes = RouteStatsTable(capacity: max(256, config.routes.routes.count * 4),
                                      unrouted: RouteStats(name: "", histogram: export.makeUpstreamHistogram(route: "")))
        self.accessLog = Atomic(config.log.access)
        self.logger = logger
        prepare(for: config)
    }

    /// Registers the routes of `config` and takes its `log.access`. Called before the
    /// config is in force, so no request ever names a route the table lacks.
    func prepare(for config: Config) {
        let refused = routes.register(config.routes.routes.map(\.name)) { name in
            RouteStats(name: name, histogram: export.makeUpstreamHistogram(route: name))
        }
        if !refused.isEmpty {
            logger.warning("too many route names since start: these count as unrouted until a restart",
                           metadata: ["routes": "\(refused.joined(separator: ", "))"])
        }
        accessLog.store(config.log.access, ordering: .relaxed)
    }

    /// One finished request (`route` nil: no cache route matched). Also the access log's line.
    func finished(_ record: ExchangeRecord) {
        routes.stats(for: record.route).request(record.outcome, micros: LatencyBuckets.micros(record.duration))
        if accessLog.load(ordering: .relaxed) { logAccess(record) }
    }

    func bypass(route: String, reason: BypassReason) { routes.stats(for: route).bypass(reason) }

    /// A request that waited for another request's fill instead of fetching.
    func coalesced(route: String) { routes.stats(for: route).coalesced() }

    func purged(source: PurgeSource, count: Int) { global.purged(source, count: count) }

    func upstream(route: String?, seconds: Double) {
        routes.stats(for: route).upstream(micros: Int64((seconds * 1_000_000).rounded()))
    }

    func upstreamError(route: String?, kind: String) {
        routes.stats(for: route).upstreamError(UpstreamErrorKind(label: kind))
    }

    /// `store`: "memory" or "redis".
    func storeError(store: String) { global.storeError(store) }

    /// The access log line: the raw target is fine here (logs may carry it; metrics never).
    private func logAccess(_ r: ExchangeRecord) {
        logger.info("access", metadata: [
            "method": "\(r.method)",
            "target": "\(r.target)",
            "route": "\(r.route ?? "")",
            "status": "\(r.status)",
            "cache": "\(r.outcome.label)",
            "durationMs": "\(Double(LatencyBuckets.micros(r.duration)) / 1000)",
        ])
    }
}
