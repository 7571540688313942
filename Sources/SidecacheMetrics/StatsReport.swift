import SidecacheCore

/// The traffic part of the /stats document: the figures /metrics exports, plus hit
/// rate and latency percentiles per route and in total. The admin API puts the config
/// generation, uptime and the store's state around it (this target knows no store).
public struct StatsReport {
    var routes: [RouteStats]
    var unrouted: RouteStats
    var global: GlobalStats

    /// `total`, `routes`, `unrouted`, `purges`, `storeErrors` and `signatureFailures`, in that order.
    public var members: [(String, JSONText)] {
        [
            ("total", Self.figures(routes + [unrouted])),
            ("routes", .array(routes.map { .object([("route", .string($0.name))] + Self.members(Self.figures([$0]))) })),
            ("unrouted", Self.figures([unrouted])),
            ("purges", .object(PurgeSource.allCases.map { ($0.rawValue, .int(global.purges($0))) })),
            ("storeErrors", .object(GlobalStats.stores.map { ($0, .int(global.storeErrors($0))) })),
            ("signatureFailures", .int(global.signatureFailures)),
        ]
    }

    /// Requests by cache status, hit rate, bypasses, coalesced waits, upstream errors and
    /// latency percentiles, summed over `stats`.
    static func figures(_ stats: [RouteStats]) -> JSONText {
        func sum(_ f: (RouteStats) -> Int) -> Int { stats.reduce(0) { $0 + f($1) } }
        var latency = [Int](repeating: 0, count: LatencyBuckets.count)
        var upstream = latency
        for s in stats {
            for o in RouteStats.outcomes { add(s.requestBuckets(o), to: &latency) }
            add(s.upstreamBuckets, to: &upstream)
        }
        let counts = RouteStats.outcomes.map { o in (o.label, sum { $0.requests(o) }) }
        let byOutcome = Dictionary(uniqueKeysWithValues: counts)
        let served = byOutcome["hit", default: 0] + byOutcome["stale", default: 0]
        let lookups = served + byOutcome["miss", default: 0]
        let bypass = RouteStats.reasons.compactMap { r -> (String, JSONText)? in
            let n = sum { $0.bypassCount(r) }
            return n > 0 ? (r.rawValue, .int(n)) : nil
        }
        let errors = UpstreamErrorKind.allCases.compactMap { k -> (String, JSONText)? in
            let n = sum { $0.upstreamErrors(k) }
            return n > 0 ? (k.rawValue, .int(n)) : nil
        }
        return .object([
            ("requests", .int(counts.reduce(0) { $0 + $1.1 })),
            ("cache", .object(counts.map { ($0.0, .int($0.1)) })),
            ("hitRate", lookups > 0 ? .number(Double(served) / Double(lookups)) : .null),
            ("hitRatePercent", lookups > 0 ? .number((Double(served) * 1000 / Double(lookups)).rounded() / 10) : .null),
            ("bypass", .object(bypass)),
            ("coalesced", .int(sum(\.coalescedCount))),
            ("verifyMismatches", .int(sum(\.verifyMismatches))),
            ("upstreamErrors", .object(errors)),
            ("latencyMs", percentiles(latency)),
            ("upstreamLatencyMs", percentiles(upstream)),
        ])
    }

    static func percentiles(_ counts: [Int]) -> JSONText {
        .object([("p50", 0.5), ("p90", 0.9), ("p99", 0.99)].map { name, q in
            (name, LatencyBuckets.quantile(q, counts: counts).map { .number($0) } ?? .null)
        })
    }

    private static func add(_ counts: [Int], to total: inout [Int]) {
        for i in total.indices { total[i] += counts[i] }
    }

    private static func members(_ json: JSONText) -> [(String, JSONText)] {
        if case .object(let m) = json { return m }
        return []
    }
}
