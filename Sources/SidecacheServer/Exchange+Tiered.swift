import NIOCore
import SidecacheCore
import SidecacheStore

/// Lookups with Redis as the shared L2 behind the in-process L1.
extension Exchange {
    /// L1 first. In strict mode an L1 hit is confirmed against the shared purge
    /// counters (a few bytes, one round trip); an L1 miss asks L2 for the entry and the
    /// counters together. Redis trouble never fails the request: it serves from L1 or
    /// goes upstream.
    func tieredLookup(_ redis: RedisStore, route: Route, key: CacheKey, target: RequestTarget, now: Timestamp) {
        let loop = connection.eventLoop
        let scopeIDs = PurgeScope.ids(route: route.name, path: target.path)
        if let entry = engine.memory.get(key, now: now), engine.ledger.isValid(entry), entry.timing.isFresh(at: now) {
            guard redis.consistency == .strict, redis.link.isUsable else {
                writeHit(entry, now: now)
                return
            }
            guard let filledUnder = entry.generations else {
                // Filled while Redis was away: it cannot be checked, so it is not served now.
                engine.memory.remove(key)
                readL2(redis, route: route, key: key, target: target, scopeIDs: scopeIDs)
                return
            }
            let me = NIOLoopBound(self, eventLoop: loop)
            redis.currentGenerations(scopes: filledUnder.values.map(\.scope), on: loop).whenComplete { result in
                let exchange = me.value
                guard !exchange.finished else { return }
                switch result {
                case .success(let current?) where current == filledUnder:
                    exchange.writeHit(entry, now: exchange.engine.clock.now())
                case .success:
                    exchange.engine.memory.remove(key)   // purged by some instance
                    exchange.readL2(redis, route: route, key: key, target: target, scopeIDs: scopeIDs)
                case .failure:
                    exchange.engine.metrics.storeError(store: "redis")
                    exchange.writeHit(entry, now: exchange.engine.clock.now())
                }
            }
            return
        }
        readL2(redis, route: route, key: key, target: target, scopeIDs: scopeIDs)
    }

    func readL2(_ redis: RedisStore, route: Route, key: CacheKey, target: RequestTarget, scopeIDs: [UInt64]) {
        let loop = connection.eventLoop
        let fillSeq = engine.ledger.current
        let me = NIOLoopBound(self, eventLoop: loop)
        redis.lookup(key, scopes: RedisStore.guardScopes(scopeIDs), on: loop).whenComplete { result in
            let exchange = me.value
            guard !exchange.finished else { return }
            let now = exchange.engine.clock.now()
            switch result {
            case .success(let lookup):
                if lookup.corrupt {
                    exchange.engine.metrics.storeError(store: "redis")
                    exchange.engine.logger.warning("undecodable entry in redis: treated as a miss", metadata: ["route": "\(route.name)"])
                }
                if let found = lookup.found, found.decoded.timing.isFresh(at: now) {
                    let entry = CacheEntry(head: found.head, body: found.body, status: found.decoded.status,
                                           timing: found.decoded.timing, fillSeq: fillSeq, scopeIDs: scopeIDs,
                                           generations: lookup.current)
                    if exchange.engine.ledger.isValid(entry) {
                        exchange.engine.memory.set(key, entry)
                        exchange.writeHit(entry, now: now)
                        return
                    }
                }
                exchange.fill(route: route, key: key, target: target, now: now, fillSeq: fillSeq, generations: lookup.current)
            case .failure:
                exchange.engine.metrics.storeError(store: "redis")
                exchange.fill(route: route, key: key, target: target, now: now, fillSeq: fillSeq, generations: nil)
            }
        }
    }
}
