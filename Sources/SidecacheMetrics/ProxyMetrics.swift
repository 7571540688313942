import SidecacheCore

/// What the proxy counts. The exchange and the stores report events here; the admin
/// listener reads them back (/metrics, /stats). Labels are route *names* and closed
/// sets only, never raw paths.
///
/// Call sites are on the hit path: each event is one lock-free table lookup and one
/// relaxed atomic add (stats per route are registered when a config loads, before it
/// is in force), so counting allocates nothing and takes no lock.
public final class ProxyMetrics: Sendable {
    let routes: RouteStatsTable
    let global = GlobalStats()
    let export: PrometheusExport
    /// The status page's figures: the last minutes per route, and the last purges.
    public let history = TrafficHistory()
    public let recentPurges = RecentPurges()

    /// `routeCapacity`: route names the table holds over the process's life (a reload
    /// adds names and none leave, so counters never go backwards).
    public init(routeCapacity: Int) {
        let export = PrometheusExport()
        self.export = export
        self.routes = RouteStatsTable(capacity: routeCapacity,
                                      unrouted: RouteStats(name: "", histogram: export.makeUpstreamHistogram(route: "")))
    }

    /// Adds stats for the names not registered yet; returns the names the table had no
    /// room for (they count as unrouted). Called before a config naming them is in force,
    /// so no request ever names a route the table lacks.
    public func register(routes names: [String]) -> [String] {
        routes.register(names) { name in
            RouteStats(name: name, histogram: export.makeUpstreamHistogram(route: name))
        }
    }

    /// One finished request, `micros` microseconds long (`route` nil: no cache route matched).
    public func finished(route: String?, outcome: CacheOutcome, micros: Int64) {
        routes.stats(for: route).request(outcome, micros: micros)
    }

    public func bypass(route: String, reason: BypassReason) { routes.stats(for: route).bypass(reason) }

    /// A request that waited for another request's fill instead of fetching.
    public func coalesced(route: String) { routes.stats(for: route).coalesced() }

    /// Shadow verification found an entry of `route` that the upstream now answers differently.
    public func verifyMismatch(route: String) { routes.stats(for: route).verifyMismatch() }

    public func purged(source: PurgeSource, count: Int) { global.purged(source, count: count) }

    public func upstream(route: String?, seconds: Double) {
        routes.stats(for: route).upstream(micros: Int64((seconds * 1_000_000).rounded()))
    }

    /// `kind` is the upstream client's failure label; one outside the closed set counts as `other`.
    public func upstreamError(route: String?, kind: String) {
        routes.stats(for: route).upstreamError(UpstreamErrorKind(label: kind))
    }

    /// `store`: "memory" or "redis".
    public func storeError(store: String) { global.storeError(store) }

    /// An entry read from Redis without `store.signingKey`'s signature.
    public func signatureFailure() { global.signatureFailure() }

    // MARK: Reading (the admin listener)

    /// The Prometheus text for /metrics; the store's gauges come from the caller
    /// (`redisUp` nil: no Redis configured, so no series).
    public func scrape(l1Entries: Int, l1Bytes: Int, redisUp: Bool?) -> String {
        export.scrape(routes: routes.all + [routes.unrouted], global: global, l1Entries: l1Entries, l1Bytes: l1Bytes,
                      redisUp: redisUp)
    }

    /// The traffic figures of /stats for `routeNames` (the config's, in its order).
    public func report(routes routeNames: [String]) -> StatsReport {
        StatsReport(routes: routeNames.map { routes.stats(for: $0) }, unrouted: routes.unrouted, global: global)
    }
}

extension ProxyMetrics {
    /// One route's totals since start, typed, for the status page.
    public struct RouteFigures: Sendable {
        public let requests: Int
        public let hits: Int
        public let stale: Int
        public let misses: Int
        public let bypasses: Int
        /// Bypass reasons counted, most frequent first.
        public let bypassReasons: [(reason: String, count: Int)]
        /// Hits and stale answers over lookups; nil before the first lookup.
        public var hitRate: Double? {
            let lookups = hits + stale + misses
            return lookups > 0 ? Double(hits + stale) / Double(lookups) : nil
        }
    }

    public func figures(route: String) -> RouteFigures {
        let stats = routes.stats(for: route)
        let reasons = RouteStats.reasons.map { (reason: $0.rawValue, count: stats.bypassCount($0)) }.filter { $0.count > 0 }
        return RouteFigures(requests: RouteStats.outcomes.reduce(0) { $0 + stats.requests($1) }, hits: stats.requests(.hit),
                            stale: stats.requests(.stale), misses: stats.requests(.miss), bypasses: stats.requests(.bypass),
                            bypassReasons: reasons.sorted { $0.count > $1.count })
    }
}
