import NIOCore

extension RedisStore {
    /// What Redis says about itself, for /stats.
    public struct Info: Sendable, Equatable {
        /// Keys in the configured database (`INFO keyspace`), the proxy's and anyone
        /// else's; nil when it has none listed.
        public var keys: Int?
        /// `used_memory` from `INFO memory`, in bytes.
        public var usedMemory: Int?
        /// Cached entries under this proxy's prefix (counted with SCAN at most every
        /// `countEvery`); nil when the database holds more than `countLimit` keys,
        /// where counting would take long.
        public var entries: Int? = nil
    }

    /// Databases up to this many keys get their entries counted for /stats: ten SCANs.
    /// The count goes over the connections hits use, and Redis serves every instance
    /// while it scans: at 200 000 keys one /stats was 190 SCANs (about a second, 14 MB
    /// of key names parsed on an event loop), and a status page open in a browser,
    /// reloading every 10 s, slowed hits and opened the breaker each time.
    static let countLimit = 10_000
    /// A count is reused for this long: status pages and scrapers do not scan again.
    static let countEvery = TimeAmount.seconds(30)

    /// Asks Redis for its key count and memory (`INFO keyspace`, `INFO memory`, one round
    /// trip), then counts the entries when the database is small enough to scan and the
    /// last count is older than `countEvery`. A cluster: the sums over its masters.
    public func info(on loop: any EventLoop) -> EventLoopFuture<Info> {
        let database = redis.endpoint.database
        let masters = redis.masters
        guard !masters.isEmpty else { return loop.makeFailedFuture(RedisFailure.unavailable("no cluster map yet")) }
        let asked = masters.map { link in
            link.send([["INFO", "keyspace"], ["INFO", "memory"]], on: loop).map { replies in
                Self.parseInfo(keyspace: replies[0].text ?? "", memory: replies[1].text ?? "", database: database)
            }
        }
        return EventLoopFuture.whenAllSucceed(asked, on: loop).flatMap { [self] each in
            var info = Info(keys: Self.sum(each.map(\.keys)), usedMemory: Self.sum(each.map(\.usedMemory)))
            guard (info.keys ?? 0) <= Self.countLimit else { return loop.makeSucceededFuture(info) }
            let now = NIODeadline.now()
            if let last = entryCount.withLock({ $0 }), now - last.at < Self.countEvery {
                info.entries = last.entries
                return loop.makeSucceededFuture(info)
            }
            let counted = masters.map { countEntries(on: $0, cursor: "0", counted: 0, on: loop) }
            return EventLoopFuture.whenAllSucceed(counted, on: loop).map { [self] counts in
                var withEntries = info
                withEntries.entries = Self.sum(counts) ?? 0
                entryCount.withLock { $0 = (withEntries.entries ?? 0, now) }
                return withEntries
            }.recover { _ in info }
        }
    }

    /// Nil when every part is nil. Saturating: the parts are what servers claim, and an
    /// overflow would stop the process.
    static func sum(_ parts: [Int?]) -> Int? {
        guard parts.contains(where: { $0 != nil }) else { return nil }
        return parts.reduce(0) { total, part in
            let (sum, overflow) = total.addingReportingOverflow(part ?? 0)
            return overflow ? (total < 0 ? .min : .max) : sum
        }
    }

    /// SCAN over the entries' pattern to the end of one server's keyspace (bounded by `countLimit`).
    private func countEntries(on link: RedisLink, cursor: String, counted: Int, on loop: any EventLoop) -> EventLoopFuture<Int> {
        link.send([["SCAN", .text(cursor), "MATCH", .text(keys.entryPattern), "COUNT", "1000"]], on: loop).flatMap { [self] replies in
            guard let reply = replies.first?.array, reply.count == 2, let next = reply[0].text, let found = reply[1].array else {
                return loop.makeFailedFuture(RedisFailure.protocolError("unexpected SCAN reply"))
            }
            let total = counted + found.count
            return next == "0" ? loop.makeSucceededFuture(total) : countEntries(on: link, cursor: next, counted: total, on: loop)
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
