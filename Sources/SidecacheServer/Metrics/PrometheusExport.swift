import CoreMetrics
import Prometheus
import SidecacheCore
import Synchronization

/// The Prometheus side of the metrics: swift-metrics counters and gauges backed by a
/// swift-prometheus registry owned by this server (no process-global bootstrap, so
/// several servers in one test process keep separate figures).
///
/// The atomic cells in `RouteStats` are the one source of truth (the hit path adds to
/// one cell and nothing else); at each scrape the counters are advanced by what the
/// cells gained since the previous scrape. Counters for requests and purges exist from
/// the start; the ones for bypass reasons, upstream errors and store errors appear at
/// their first event, so an idle route does not export dozens of zero series.
final class PrometheusExport: Sendable {
    let factory: PrometheusMetricsFactory
    private let registry: PrometheusCollectorRegistry
    private let mirrors = Mutex<[MirrorKey: Mirror]>([:])
    private let l1Entries: CoreMetrics.Gauge
    private let l1Bytes: CoreMetrics.Gauge
    private let redisUp = Mutex<CoreMetrics.Gauge?>(nil)

    private struct MirrorKey: Hashable {
        let owner: ObjectIdentifier
        let cell: Int
    }

    private struct Mirror {
        let counter: CoreMetrics.Counter
        var reported: Int
    }

    static let upstreamBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                              .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                              .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30)]

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.upstreamBuckets
        self.registry = registry
        self.factory = factory
        l1Entries = CoreMetrics.Gauge(label: "sidecache_l1_entries", dimensions: [], factory: factory)
        l1Bytes = CoreMetrics.Gauge(label: "sidecache_l1_bytes", dimensions: [], factory: factory)
    }

    func makeTimer(route: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: "sidecache_upstream_duration_seconds", dimensions: [("route", route)], factory: factory)
    }

    /// Brings every counter up to its cells, sets the gauges, and renders the text format.
    func scrape(routes: [RouteStats], global: GlobalStats, l1Entries entries: Int, l1Bytes bytes: Int,
                redisUp up: Bool?) -> String {
        mirrors.withLock { m in
            for r in routes {
                let owner = ObjectIdentifier(r)
                for outcome in RouteStats.outcomes {
                    sync(&m, owner, RouteStats.requestsAt + RouteStats.index(outcome), r.requests(outcome), eager: true,
                         "sidecache_requests_total", [("route", r.name), ("cache", outcome.label)])
                }
                for reason in RouteStats.reasons {
                    sync(&m, owner, RouteStats.bypassAt + (RouteStats.reasons.firstIndex(of: reason) ?? 0),
                         r.bypassCount(reason), eager: false, "sidecache_bypass_total", [("route", r.name), ("reason", reason.rawValue)])
                }
                sync(&m, owner, RouteStats.coalescedAt, r.coalescedCount, eager: false, "sidecache_coalesced_total", [("route", r.name)])
                for kind in UpstreamErrorKind.allCases {
                    sync(&m, owner, RouteStats.errorsAt + kind.index, r.upstreamErrors(kind), eager: false,
                         "sidecache_upstream_errors_total", [("route", r.name), ("kind", kind.rawValue)])
                }
            }
            let owner = ObjectIdentifier(global)
            for source in PurgeSource.allCases {
                sync(&m, owner, GlobalStats.index(source), global.purges(source), eager: true,
                     "sidecache_purges_total", [("source", source.rawValue)])
            }
            for store in GlobalStats.stores {
                sync(&m, owner, GlobalStats.index(store: store), global.storeErrors(store), eager: false,
                     "sidecache_store_errors_total", [("store", store)])
            }
        }
        l1Entries.record(entries)
        l1Bytes.record(bytes)
        if let up {
            let gauge = redisUp.withLock { g in
                if g == nil { g = CoreMetrics.Gauge(label: "sidecache_redis_up", dimensions: [], factory: factory) }
                return g!
            }
            gauge.record(up ? 1 : 0)
        }
        return registry.emitToString()
    }

    private func sync(_ mirrors: inout [MirrorKey: Mirror], _ owner: ObjectIdentifier, _ cell: Int, _ value: Int, eager: Bool,
                      _ label: String, _ dimensions: [(String, String)]) {
        let key = MirrorKey(owner: owner, cell: cell)
        if mirrors[key] == nil {
            guard eager || value > 0 else { return }
            mirrors[key] = Mirror(counter: CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory), reported: 0)
        }
        let gained = value - mirrors[key]!.reported
        if gained > 0 {
            mirrors[key]!.counter.increment(by: gained)
            mirrors[key]!.reported = value
        }
    }
}
