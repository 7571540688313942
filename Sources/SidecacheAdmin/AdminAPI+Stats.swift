import NIOCore
import SidecacheCore
import SidecacheStore

extension AdminAPI {
    /// `GET /stats`: the config generation and uptime, the traffic figures (per route, in
    /// the config's order, and in total), then the memory tier and Redis.
    func stats(on loop: any EventLoop) async -> AdminResponse {
        let (config, generation) = backend.configInForce
        let memory = backend.memoryUsage
        let info = await backend.sharedInfo(on: loop)
        let report = backend.metrics.report(routes: config.routes.routes.map(\.name))
        let l1: [(String, JSONText)] = [("entries", .int(memory.entries)), ("bytes", .int(memory.bytes)),
                                        ("capacityBytes", .int(memory.capacityBytes))]
        return .json(.object([("config", .int(generation)), ("uptimeSeconds", .int(Int((.now - started).components.seconds)))]
            + report.members + [("l1", .object(l1)), ("redis", Self.redisJSON(backend.sharedStatus, info: info))]))
    }

    /// `GET /`: the status page.
    func statusPage(on loop: any EventLoop) async -> AdminResponse {
        let (config, generation) = backend.configInForce
        let metrics = backend.metrics
        let info = await backend.sharedInfo(on: loop)
        let routes = config.routes.routes.map { route in
            StatusPage.Route(name: route.name, figures: metrics.figures(route: route.name),
                             window: metrics.history.window(route: route.name), intervals: metrics.history.intervals(route: route.name))
        }
        let html = StatusPage.render(routes: routes, redis: backend.sharedStatus.map { StatusPage.Redis(status: $0, info: info) },
                                     purges: metrics.recentPurges.all, generation: generation,
                                     uptimeSeconds: Int((.now - started).components.seconds),
                                     window: metrics.history.span(period: Self.historyPeriod))
        return .text(html, contentType: "text/html; charset=utf-8")
    }

    /// One sample of every route's figures for the status page's history.
    func sampleHistory() {
        backend.metrics.history.record(backend.metrics, routes: backend.configInForce.config.routes.routes.map(\.name))
    }

    /// Redis as /stats reports it: `configured` alone without Redis; else connected, breaker,
    /// the cached entries (this proxy's, counted), every key of the database and memory
    /// when `INFO` answered (a cluster: summed over its masters, and its masters and
    /// redirects followed), and the last error while there is one (it clears when Redis
    /// answers again).
    static func redisJSON(_ redis: SharedTierStatus?, info: SharedTierInfo?) -> JSONText {
        guard let redis else { return .object([("configured", .bool(false))]) }
        var members: [(String, JSONText)] = [("configured", .bool(true)), ("connected", .bool(redis.connected)),
                                             ("breaker", .string(redis.breaker))]
        if let info {
            members.append(("entries", info.entries.map { .int($0) } ?? .null))
            members.append(("keys", info.keys.map { .int($0) } ?? .null))
            members.append(("usedMemoryBytes", info.usedMemory.map { .int($0) } ?? .null))
        }
        if let cluster = redis.cluster {
            members.append(("cluster", .object([("masters", .int(cluster.masters)), ("replicas", .int(cluster.replicas)),
                                                ("redirects", .int(cluster.redirects)),
                                                ("mapRequests", .int(cluster.mapRequests))])))
        }
        if let error = redis.lastError { members.append(("lastError", .string(error))) }
        return .object(members)
    }
}
