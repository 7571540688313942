import SidecacheCore
@testable import SidecacheMetrics
import Testing

/// The status page's history: intervals are differences of cumulative samples, and the
/// window is bounded.
@Suite struct TrafficHistoryTests {
    @Test func intervalsCountTheRequestsBetweenSamples() {
        let metrics = ProxyMetrics(routeCapacity: 4)
        _ = metrics.register(routes: ["a", "b"])
        let history = TrafficHistory(capacity: 3)
        history.record(metrics, routes: ["a", "b"])
        #expect(history.intervals(route: "a").isEmpty && history.window(route: "a") == nil)

        for _ in 0..<3 { metrics.finished(route: "a", outcome: .hit, micros: 2_000) }
        metrics.finished(route: "a", outcome: .miss, micros: 200_000)
        history.record(metrics, routes: ["a", "b"])
        metrics.finished(route: "a", outcome: .hit, micros: 2_000)
        history.record(metrics, routes: ["a", "b"])

        let a = history.intervals(route: "a")
        #expect(a.map(\.requests) == [4, 1])
        #expect((a[0].p99Ms ?? 0) > 100 && (a[1].p50Ms ?? 0) < 5)
        #expect(history.window(route: "a")?.requests == 5)
        #expect(history.intervals(route: "b").map(\.requests) == [0, 0])
        #expect(history.intervals(route: "b").allSatisfy { $0.p50Ms == nil })

        history.record(metrics, routes: ["a", "b"])   // a fourth sample: the oldest goes
        #expect(history.intervals(route: "a").map(\.requests) == [1, 0])
        #expect(history.span(period: .seconds(10)) == .seconds(20))
    }

    @Test func recentPurgesKeepTheNewestFirstUpToCapacity() {
        let purges = RecentPurges(capacity: 2)
        for n in 1...3 { purges.record(.init(source: .admin, targets: ["path /\(n)"], reason: "admin")) }
        #expect(purges.all.map(\.targets) == [["path /3"], ["path /2"]])
    }
}
