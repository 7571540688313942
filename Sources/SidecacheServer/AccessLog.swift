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
final class AccessLog: Sendable {
    private let enabled: Atomic<Bool>
    private let lines: AccessLineWriter

    init(enabled: Bool, lines: AccessLineWriter) {
        self.enabled = Atomic(enabled)
        self.lines = lines
    }

    func enable(_ on: Bool) { enabled.store(on, ordering: .relaxed) }

    /// The raw target is fine here (logs may carry it; metrics never), but for the
    /// userinfo of an absolute-form one (`masked`).
    func write(_ r: ExchangeRecord) {
        guard enabled.load(ordering: .relaxed) else { return }
        lines.write(method: r.method, target: r.target.utf8.first == UInt8(ascii: "/") ? r.target : Self.masked(r.target),
                    route: r.route ?? "", status: r.status, cache: r.outcome.label, micros: r.micros)
    }

    /// An absolute- or authority-form target with its userinfo masked:
    /// `http://alice:pw@host/x` and `CONNECT alice:pw@host:443` are refused (RFC 9110
    /// §4.2.4 forbids userinfo there), and their passwords were written to the log as sent.
    static func masked(_ target: String) -> String {
        let rest = target.range(of: "://").map { target[$0.upperBound...] } ?? target[...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return target }
        return target[..<rest.startIndex] + "***" + target[at...]
    }
}
