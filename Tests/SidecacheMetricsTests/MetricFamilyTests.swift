import Foundation
@testable import SidecacheMetrics
import Testing

/// `MetricFamily.all` is the one list of metric families: what /metrics exports, what the
/// README's metrics table lists and what the Grafana dashboard queries must agree with it.
@Suite("Metric families: one definition, checked against the export, README and dashboard")
struct MetricFamilyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func dashboardQueriesDefinedFamiliesAndLabels() throws {
        let queries = try DashboardQueries.load(Self.root.appendingPathComponent("deploy/grafana/sidecache.json"))
        #expect(queries.count >= 10, "the dashboard's queries were not found")
        let problems = DashboardQueries.problems(queries, families: MetricFamily.all)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The check above would pass on a dashboard it cannot read; this shows it catches a
    /// misspelt metric, a misspelt label, a bucket of a non-histogram and a stray grouping.
    @Test(arguments: [
        (#"sum(rate(sidecache_request_total{route="a"}[5m]))"#, "sidecache_request_total is not a metric family"),
        (#"rate(sidecache_requests_total{rout="a"}[5m])"#, "sidecache_requests_total has no label rout"),
        (#"rate(sidecache_requests_total_bucket[5m])"#, "sidecache_requests_total_bucket is not a metric family"),
        (#"sum by (reason) (rate(sidecache_requests_total[5m]))"#, "no metric here has label reason"),
        (#"label_values(sidecache_requests_total, kind)"#, "no metric here has label kind"),
    ])
    func dashboardCheckCatches(expr: String, problem: String) {
        let queries = [("q", DashboardQueries.labelValuesAsExpression(expr))]
        #expect(DashboardQueries.problems(queries, families: MetricFamily.all) == ["q: \(problem)"])
    }

    @Test func histogramSeriesAndGroupingPass() {
        let expr = #"histogram_quantile(0.99, sum by (route, le) (rate(sidecache_upstream_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))"#
        let refs = PromQLReferences(expr)
        #expect(refs.metrics == ["sidecache_upstream_duration_seconds_bucket": ["job"]])
        #expect(refs.grouping == ["route", "le"])
        #expect(DashboardQueries.problems([("q", expr)], families: MetricFamily.all).isEmpty)
    }

    @Test func readmeTableListsExactlyTheFamilies() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let rows = MetricsTable.rows(in: readme)
        #expect(rows.map(\.name).sorted() == MetricFamily.all.map(\.name).sorted())
        for row in rows {
            guard let family = MetricFamily.all.first(where: { $0.name == row.name }) else { continue }
            #expect(row.type == family.kind.rawValue, "\(row.name)")
            #expect(row.labels == family.labelNames, "\(row.name)")
        }
    }

    /// A scrape declares each family with the type and help text of its definition, and nothing else.
    @Test func exportDeclaresEveryFamilyAsDefined() {
        let export = PrometheusExport()
        let route = RouteStats(name: "r", histogram: export.makeUpstreamHistogram(route: "r"))
        route.bypass(.authorization)
        route.coalesced()
        route.verifyMismatch()
        route.upstreamError(.timeout)
        let global = GlobalStats()
        global.storeError("redis")
        global.signatureFailure()
        let text = export.scrape(routes: [route], global: global, l1Entries: 1, l1Bytes: 2, redisUp: true)
        var types: [String: String] = [:]
        var helps: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            guard parts.count == 4, parts[0] == "#" else { continue }
            if parts[1] == "TYPE" { types[parts[2]] = parts[3] }
            if parts[1] == "HELP" { helps[parts[2]] = parts[3] }
        }
        #expect(types == Dictionary(uniqueKeysWithValues: MetricFamily.all.map { ($0.name, $0.kind.rawValue) }))
        #expect(helps == Dictionary(uniqueKeysWithValues: MetricFamily.all.map { ($0.name, $0.help) }))
    }
}
