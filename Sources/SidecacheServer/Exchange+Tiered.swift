import NIOCore
import SidecacheCore
import SidecacheStore

/// Lookups with Redis as the shared L2 behind the in-process L1.
extension Exchange {
    /// L1 first. In strict mode an L1 entry is confirmed against the shared purge
    /// counters (a few bytes, one round trip) before it answers; an L1 miss asks L2 for
    /// the entry and the counters together. Redis trouble never fails the request: it
    /// serves from L1 or goes upstream.
    func tieredLookup(_ redis: RedisStore, now: Timestamp) {
        let context = cache!
        let loop = connection.eventLoop
        guard let entry = engine.memory.get(context.key, now: now), engine.ledger.isValid(entry) else {
            readL2(redis)
            return
        }
        guard redis.consistency == .strict, redis.link.isUsable else {
            consider(entry, now: now, generations: entry.generations)
            return
        }
        guard let filledUnder = entry.generations else {
            // Filled while Redis was away: it cannot be checked, so it is not served now.
            engine.memory.remove(context.key)
            readL2(redis)
            return
        }
        let me = NIOLoopBound(self, eventLoop: loop)
        redis.confirm(entry, on: loop).whenComplete { result in
            let exchange = me.value
            guard !exchange.finished else { return }
            let now = exchange.engine.clock.now()
            switch result {
            case .success(true):
                exchange.consider(entry, now: now, generations: filledUnder)
            case .success(false):
                exchange.engine.memory.remove(context.key)   // purged by some instance
                exchange.readL2(redis)
            case .failure:
                exchange.engine.metrics.storeError(store: "redis")
                exchange.consider(entry, now: now, generations: nil)
            }
        }
    }

    func readL2(_ redis: RedisStore) {
        let context = cache!
        let loop = connection.eventLoop
        let fillSeq = engine.ledger.current
        let me = NIOLoopBound(self, eventLoop: loop)
        redis.lookup(context.key, scopes: RedisStore.guardScopes(scopeIDs), on: loop).whenComplete { result in
            let exchange = me.value
            guard !exchange.finished else { return }
            let now = exchange.engine.clock.now()
            switch result {
            case .success(let lookup):
                if lookup.corrupt {
                    exchange.engine.metrics.storeError(store: "redis")
                    exchange.engine.logger.warning("undecodable entry in redis (foreign, corrupt or badly framed): treated as a miss",
                                                  metadata: ["route": "\(context.route.name)"])
                }
                var usable: CacheEntry?
                if let found = lookup.found, now < found.decoded.timing.keepUntil {
                    // The entry's own guard (its tags included), not just the request's scopes.
                    let guardedBy = found.decoded.generations
                    let entry = CacheEntry(head: found.head, body: found.body, status: found.decoded.status,
                                           timing: found.decoded.timing, fillSeq: fillSeq,
                                           scopeIDs: guardedBy.values.map(\.scope).filter { $0 != PurgeScope.all.id },
                                           generations: guardedBy)
                    if exchange.engine.ledger.isValid(entry) {
                        exchange.engine.memory.set(context.key, entry)   // an L2 hit fills L1, same deadline
                        usable = entry
                    }
                }
                exchange.consider(usable, now: now, generations: lookup.current)
            case .failure:
                exchange.engine.metrics.storeError(store: "redis")
                exchange.consider(nil, now: now, generations: nil)
            }
        }
    }
}
