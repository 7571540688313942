import NIOCore

extension RedisStore {
    /// What Redis says about itself, for /stats.
    public struct Info: Sendable, Equatable {
        /// Keys in the configured database (`INFO keyspace`); nil when it has none listed.
        public var keys: Int?
        /// `used_memory` from `INFO memory`, in bytes.
        public var usedMemory: Int?
    }

    /// Asks Redis for its key count and memory (`INFO keyspace`, `INFO memory`, one round trip).
    public func info(on loop: any EventLoop) -> EventLoopFuture<Info> {
        let database = link.endpoint.database
        return link.send([["INFO", "keyspace"], ["INFO", "memory"]], on: loop).map { replies in
            Self.parseInfo(keyspace: replies[0].text ?? "", memory: replies[1].text ?? "", database: database)
        }
    }

    /// `db0:keys=12,expires=3,avg_ttl=0` and `used_memory:1048576` lines, from INFO's text.
    static func parseInfo(keyspace: String, memory: String, database: Int) -> Info {
        var info = Info(keys: nil, usedMemory: nil)
        for line in keyspace.split(whereSeparator: \.isNewline) where line.hasPrefix("db\(database):") {
            let fields = line.dropFirst("db\(database):".count).split(separator: ",")
            if let keys = fields.first(where: { $0.hasPrefix("keys=") }) { info.keys = Int(keys.dropFirst(5)) }
        }
        if info.keys == nil && !keyspace.isEmpty { info.keys = 0 }   // an empty database is not listed
        for line in memory.split(whereSeparator: \.isNewline) where line.hasPrefix("used_memory:") {
            info.usedMemory = Int(line.dropFirst("used_memory:".count))
        }
        return info
    }
}
