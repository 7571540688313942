import Prometheus
import SidecacheCore

/// Every figure counted for one route (or, with the name "", for requests that matched
/// no route), in one block of atomic cells. Labels come only from closed sets:
/// `CacheOutcome`, `BypassReason`, `UpstreamErrorKind`.
final class RouteStats: Sendable {
    let name: String
    let cells: AtomicCells
    /// `sidecache_upstream_duration_seconds{route}`: swift-prometheus' histogram, recorded
    /// off the hit path (after an upstream round trip), so its lock costs nothing that matters.
    let upstreamHistogram: DurationHistogram

    // Layout: requests (one latency histogram per outcome), bypass reasons, coalesced,
    // upstream latency histogram, upstream error kinds, verification mismatches.
    static let outcomes = CacheOutcome.allCases
    static let reasons = BypassReason.allCases
    static let requestsAt = 0
    static let bypassAt = requestsAt + outcomes.count * LatencyBuckets.count
    static let coalescedAt = bypassAt + reasons.count
    static let upstreamAt = coalescedAt + 1
    static let errorsAt = upstreamAt + LatencyBuckets.count
    static let mismatchesAt = errorsAt + UpstreamErrorKind.allCases.count
    static let cellCount = mismatchesAt + 1

    init(name: String, histogram: DurationHistogram) {
        self.name = name
        self.cells = AtomicCells(count: Self.cellCount)
        self.upstreamHistogram = histogram
    }

    @inline(__always)
    static func index(_ outcome: CacheOutcome) -> Int {
        switch outcome {
        case .hit: 0
        case .miss: 1
        case .stale: 2
        case .bypass: 3
        }
    }

    // MARK: Recording (event loops)

    @inline(__always)
    func request(_ outcome: CacheOutcome, micros: Int64) {
        cells.add(Self.requestsAt + Self.index(outcome) * LatencyBuckets.count + LatencyBuckets.index(micros: micros))
    }

    func bypass(_ reason: BypassReason) {
        cells.add(Self.bypassAt + (Self.reasons.firstIndex(of: reason) ?? 0))
    }

    func coalesced() { cells.add(Self.coalescedAt) }

    func upstream(micros: Int64) {
        cells.add(Self.upstreamAt + LatencyBuckets.index(micros: micros))
        upstreamHistogram.record(.microseconds(micros))
    }

    func upstreamError(_ kind: UpstreamErrorKind) {
        cells.add(Self.errorsAt + kind.index)
    }

    func verifyMismatch() { cells.add(Self.mismatchesAt) }

    // MARK: Reading (scrapes, /stats)

    func requestBuckets(_ outcome: CacheOutcome) -> [Int] {
        cells.values(from: Self.requestsAt + Self.index(outcome) * LatencyBuckets.count, count: LatencyBuckets.count)
    }

    func requests(_ outcome: CacheOutcome) -> Int {
        cells.sum(from: Self.requestsAt + Self.index(outcome) * LatencyBuckets.count, count: LatencyBuckets.count)
    }

    func bypassCount(_ reason: BypassReason) -> Int {
        cells.load(Self.bypassAt + (Self.reasons.firstIndex(of: reason) ?? 0))
    }

    var coalescedCount: Int { cells.load(Self.coalescedAt) }

    var verifyMismatches: Int { cells.load(Self.mismatchesAt) }

    var upstreamBuckets: [Int] { cells.values(from: Self.upstreamAt, count: LatencyBuckets.count) }

    func upstreamErrors(_ kind: UpstreamErrorKind) -> Int { cells.load(Self.errorsAt + kind.index) }
}

/// Upstream failure kinds as metric labels: a closed set, so an unexpected kind from
/// the upstream client becomes `other` rather than a new label.
enum UpstreamErrorKind: String, CaseIterable, Sendable {
    case connect, timeout, protocolError, cancelled, other

    init(label: String) { self = UpstreamErrorKind(rawValue: label) ?? .other }

    var index: Int {
        switch self {
        case .connect: 0
        case .timeout: 1
        case .protocolError: 2
        case .cancelled: 3
        case .other: 4
        }
    }
}
