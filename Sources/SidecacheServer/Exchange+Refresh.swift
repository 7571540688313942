import NIOCore
import SidecacheCore
import SidecacheStore

/// The proxy's own refreshes: background revalidation (stale-while-revalidate, soft
/// purges), warming and the admin API.
extension Exchange {
    /// Fetches and stores whatever is cached now, unless a fill for the key is already
    /// under way here (then that one refreshes it). Warming and the admin API always
    /// fetch. A revalidation (`replacing` set) first takes the key's lease when there is
    /// Redis, and is done at once when another instance holds it (that one is fetching
    /// the key) or when a fresh entry is stored by now (a refresh that landed while the
    /// stale answer's lookup was under way): one refresh per key for all instances.
    func refresh(_ context: CacheContext) {
        let ledger = engine.store.ledger
        guard let id = engine.fills.lead(context.key, fillSeq: ledger.current, scopeIDs: context.scopeIDs, ledger: ledger) else {
            run(machine.failAtOnce(.refreshInProgress))
            return
        }
        flight = id
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        guard replacing != nil else {
            engine.store.beginRefresh(context.key, scopes: context.scopeIDs, on: connection.eventLoop).whenReady { guarded in
                me.value.fetchForRefresh(context, guarded)
            }
            return
        }
        let ttl = context.route.policy.upstreamTimeout + .seconds(1)
        guard let asked = engine.store.takeLease(context.key, for: ttl, on: connection.eventLoop) else {
            return revalidateUnlessReplaced(context)
        }
        asked.whenSuccess { lease in
            let exchange = me.value
            switch lease {
            case .heldElsewhere:
                exchange.run(exchange.machine.failAtOnce(.refreshInProgress))
            case .granted(let token):
                exchange.leaseToken = token
                exchange.revalidateUnlessReplaced(context)
            case .unavailable:
                exchange.revalidateUnlessReplaced(context)
            }
        }
    }

    /// Looks the key up again (after the lease, so another instance's refresh is stored by
    /// then): a fresh entry other than the stale one ends the revalidation; otherwise the
    /// entry found (purge-checked now) is revalidated, a conditional request when it has
    /// validators, and the fill is stored under the counters this lookup read.
    private func revalidateUnlessReplaced(_ context: CacheContext) {
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        let stale = replacing
        engine.store.lookup(context.key, now: engine.clock.now(), on: connection.eventLoop)
            .whenReady(scopes: { context.scopeIDs }) { found in
                let exchange = me.value
                let now = exchange.engine.clock.now()
                if let entry = found.entry, entry !== stale, found.staleSince == nil, entry.timing.within(context.route).isFresh(at: now) {
                    exchange.run(exchange.machine.failAtOnce(.refreshInProgress))
                    return
                }
                exchange.fetchForRefresh(context, exchange.engine.store.beginFill(shared: found.sharedGuard), revalidating: found.entry)
            }
    }

    private func fetchForRefresh(_ context: CacheContext, _ guarded: FillGuard, revalidating: CacheEntry? = nil) {
        if case .fill(let start) = machine.refresh(context, revalidating: revalidating, now: engine.clock.now()) {
            fill(start, guarded)
        }
    }
}
