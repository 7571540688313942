import Logging
import SidecacheCore
import SidecacheMetrics
import Synchronization

/// One finished exchange, as the access log and the request metrics see it.
struct ExchangeRecord: Sendable {
    var method: String
    /// The request target as received (logs only: never a metric label).
    var target: String
    var route: String?
    var status: Int
    var outcome: CacheOutcome
    /// How long it took, in whole microseconds (the latency histograms' unit).
    var micros: Int64
}

/// The access log (`log.access`): one line per finished client request. A reload
/// switches it with one atomic store, and a request that finishes reads the switch
/// with one relaxed load, so while it is off it costs the hit path nothing more.
/// When on, its line is the only per-request allocation.
final class AccessLog: Sendable {
    private let enabled: Atomic<Bool>
    private let logger: Logger

    init(enabled: Bool, logger: Logger) {
        self.enabled = Atomic(enabled)
        self.logger = logger
    }

    func enable(_ on: Bool) { enabled.store(on, ordering: .relaxed) }

    /// The raw target is fine here (logs may carry it; metrics never).
    func write(_ r: ExchangeRecord) {
        guard enabled.load(ordering: .relaxed) else { return }
        logger.info("access", metadata: [
            "method": "\(r.method)",
            "target": "\(r.target)",
            "route": "\(r.route ?? "")",
            "status": "\(r.status)",
            "cache": "\(r.outcome.label)",
            "durationMs": "\(Double(r.micros) / 1000)",
        ])
    }
}
