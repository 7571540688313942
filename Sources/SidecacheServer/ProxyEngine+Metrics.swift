import SidecacheConfig
import SidecacheMetrics

extension ProxyEngine {
    /// Readies counting for `config` before it is in force: stats for its route names
    /// exist before any request can name them, the access log takes its `log.access`,
    /// and the upstream client its budget for answers streamed ahead of slow readers
    /// (`limits.bodyMemory`).
    func prepare(for config: Config) {
        upstream.limitStreamedBytes(to: config.limits.bodyMemory)
        let refused = metrics.register(routes: config.routes.routes.map(\.name))
        if !refused.isEmpty {
            logger.warning("too many route names since start: these count as unrouted until a restart",
                           metadata: ["routes": "\(refused.joined(separator: ", "))"])
        }
        accessLog.enable(config.log.access)
    }

    /// One finished client request: its metrics, and its access-log line when that is on.
    func finished(_ record: ExchangeRecord) {
        metrics.finished(route: record.route, outcome: record.outcome, micros: record.micros)
        accessLog.write(record)
    }
}

extension ProxyMetrics {
    /// Room for the route names of `config` and of the reloads after it: four times as
    /// many, and at least 256.
    convenience init(for config: Config) {
        self.init(routeCapacity: max(256, config.routes.routes.count * 4))
    }
}
