import SidecacheCore
@testable import SidecacheMetrics
import Testing

/// One route's figures: every outcome, reason and error kind has a cell of its own, so
/// no event is counted under another label.
@Suite("Route stats: one cell per label")
struct RouteStatsTests {
    static let export = PrometheusExport()

    static func stats(_ name: String) -> RouteStats {
        RouteStats(name: name, histogram: export.makeUpstreamHistogram(route: name))
    }

    /// Each label gets a different count (1, 2, 3, …): a cell shared or shifted shows up
    /// as a wrong number under some label.
    @Test func eachOutcomeReasonAndKindCountsInItsOwnCell() {
        let s = Self.stats("counts")
        for (i, outcome) in RouteStats.outcomes.enumerated() {
            for _ in 0...i { s.request(outcome, micros: 100) }
        }
        for (i, reason) in RouteStats.reasons.enumerated() {
            for _ in 0...i { s.bypass(reason) }
        }
        for (i, kind) in UpstreamErrorKind.allCases.enumerated() {
            for _ in 0...i { s.upstreamError(kind) }
        }
        for _ in 0..<3 { s.coalesced() }
        for _ in 0..<5 { s.upstream(micros: 2_000) }

        #expect(RouteStats.outcomes.map(s.requests) == Array(1...RouteStats.outcomes.count))
        #expect(RouteStats.reasons.map(s.bypassCount) == Array(1...RouteStats.reasons.count))
        #expect(UpstreamErrorKind.allCases.map(s.upstreamErrors) == Array(1...UpstreamErrorKind.allCases.count))
        #expect(s.coalescedCount == 3)
        #expect(s.upstreamBuckets.reduce(0, +) == 5)
        #expect(s.upstreamBuckets[LatencyBuckets.index(micros: 2_000)] == 5)
    }

    /// A request's latency lands in its outcome's histogram, in the bucket for its duration.
    @Test func requestLatencyLandsInItsOutcomesBucket() {
        let s = Self.stats("latency")
        s.request(.miss, micros: 30)
        s.request(.miss, micros: 5_000_000)
        s.request(.hit, micros: 30)
        let miss = s.requestBuckets(.miss)
        #expect(miss.count == LatencyBuckets.count)
        #expect(miss[LatencyBuckets.index(micros: 30)] == 1)
        #expect(miss[LatencyBuckets.index(micros: 5_000_000)] == 1)
        #expect(miss.reduce(0, +) == 2)
        #expect(s.requestBuckets(.hit).reduce(0, +) == 1)
        #expect(s.requestBuckets(.stale).reduce(0, +) == 0)
    }

    /// Error kinds are labels: an unknown one from the client is `other`, not a new label.
    @Test func upstreamErrorKindsAreAClosedSet() {
        #expect(UpstreamErrorKind(label: "timeout") == .timeout)
        #expect(UpstreamErrorKind(label: "somethingNew") == .other)
        #expect(Set(UpstreamErrorKind.allCases.map(\.index)) == Set(0..<UpstreamErrorKind.allCases.count))
    }
}
