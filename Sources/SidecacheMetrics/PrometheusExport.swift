import Prometheus
import SidecacheCore
import Synchronization

/// The Prometheus side of the metrics: counters, gauges and a histogram in a
/// swift-prometheus registry owned by this server (no process-global bootstrap, so
/// several servers in one test process keep separate figures). They are made through
/// the registry rather than swift-metrics so that each family carries the help text
/// `MetricFamily` gives it (swift-metrics has no place for one).
///
/// The atomic cells in `RouteStats` are the one source of truth (the hit path adds to
/// one cell and nothing else); at each scrape the counters are advanced by what the
/// cells gained since the previous scrape. Counters for requests and purges exist from
/// the start; the ones for bypass reasons, upstream errors and store errors appear at
/// their first event, so an idle route does not export dozens of zero series.
final class PrometheusExport: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let mirrors = Mutex<[MirrorKey: Mirror]>([:])
    private let l1Entries: Prometheus.Gauge
    private let l1Bytes: Prometheus.Gauge
    private let redisUp = Mutex<Prometheus.Gauge?>(nil)

    private struct MirrorKey: Hashable {
        let owner: ObjectIdentifier
        let cell: Int
    }

    private struct Mirror {
        let counter: Prometheus.Counter
        var reported: Int
    }

    static let upstreamBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                              .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                              .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30)]

    init() {
        l1Entries = registry.makeGauge(descriptor: MetricFamily.l1Entries.descriptor)
        l1Bytes = registry.makeGauge(descriptor: MetricFamily.l1Bytes.descriptor)
    }

    func makeUpstreamHistogram(route: String) -> DurationHistogram {
        let family = MetricFamily.upstreamDuration
        return registry.makeDurationHistogram(descriptor: family.descriptor, labels: family.labels([route]), buckets: Self.upstreamBuckets)
    }

    /// Brings every counter up to its cells, sets the gauges, and renders the text format.
    func scrape(routes: [RouteStats], global: GlobalStats, l1Entries entries: Int, l1Bytes bytes: Int,
                redisUp up: Bool?) -> String {
        mirrors.withLock { m in
            for r in routes {
                let owner = ObjectIdentifier(r)
                for outcome in RouteStats.outcomes {
                    sync(&m, owner, RouteStats.requestsAt + RouteStats.index(outcome), r.requests(outcome), eager: true,
                         .requests, [r.name, outcome.label])
                }
                for reason in RouteStats.reasons {
                    sync(&m, owner, RouteStats.bypassAt + (RouteStats.reasons.firstIndex(of: reason) ?? 0),
                         r.bypassCount(reason), eager: false, .bypass, [r.name, reason.rawValue])
                }
                sync(&m, owner, RouteStats.coalescedAt, r.coalescedCount, eager: false, .coalesced, [r.name])
                sync(&m, owner, RouteStats.mismatchesAt, r.verifyMismatches, eager: false, .verifyMismatches, [r.name])
                for kind in UpstreamErrorKind.allCases {
                    sync(&m, owner, RouteStats.errorsAt + kind.index, r.upstreamErrors(kind), eager: false,
                         .upstreamErrors, [r.name, kind.rawValue])
                }
            }
            let owner = ObjectIdentifier(global)
            for source in PurgeSource.allCases {
                sync(&m, owner, GlobalStats.index(source), global.purges(source), eager: true,
                     .purges, [source.rawValue])
            }
            for store in GlobalStats.stores {
                sync(&m, owner, GlobalStats.index(store: store), global.storeErrors(store), eager: false,
                     .storeErrors, [store])
            }
            sync(&m, owner, GlobalStats.signatureFailuresAt, global.signatureFailures, eager: false, .signatureFailures, [])
        }
        l1Entries.set(to: Double(entries))
        l1Bytes.set(to: Double(bytes))
        if let up {
            let gauge = redisUp.withLock { g in
                if g == nil { g = registry.makeGauge(descriptor: MetricFamily.redisUp.descriptor) }
                return g!
            }
            gauge.set(to: up ? 1 : 0)
        }
        return registry.emitToString()
    }

    private func sync(_ mirrors: inout [MirrorKey: Mirror], _ owner: ObjectIdentifier, _ cell: Int, _ value: Int, eager: Bool,
                      _ family: MetricFamily, _ labelValues: [String]) {
        let key = MirrorKey(owner: owner, cell: cell)
        if mirrors[key] == nil {
            guard eager || value > 0 else { return }
            mirrors[key] = Mirror(counter: registry.makeCounter(descriptor: family.descriptor, labels: family.labels(labelValues)), reported: 0)
        }
        let gained = value - mirrors[key]!.reported
        if gained > 0 {
            mirrors[key]!.counter.increment(by: Int64(gained))
            mirrors[key]!.reported = value
        }
    }
}

extension MetricFamily {
    /// The family as swift-prometheus names it: the whole name, and the help text.
    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
