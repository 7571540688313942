import NIOCore
import SidecacheCore

extension TieredStore {
    /// A fill begins now, under the shared counters its lookup read (`Lookup.sharedGuard`):
    /// any purge from here on keeps its answer out of both tiers.
    public func beginFill(shared: EntryCodec.Generations?) -> FillGuard {
        FillGuard(fillSeq: ledger.current, shared: shared)
    }

    /// A refresh (warming, revalidation, the admin API) begins now, without a lookup:
    /// with Redis the counters of `scopes` (where `key`'s entry keeps them) are read first.
    public func beginRefresh(_ key: CacheKey, scopes: [UInt64], on loop: any EventLoop) -> StoreStep<FillGuard> {
        let fillSeq = ledger.current
        guard let shared else { return .now(FillGuard(fillSeq: fillSeq, shared: nil)) }
        return .later(shared.currentGenerations(scopes: Self.guardScopes(scopes), key: key, on: loop)
            .map { FillGuard(fillSeq: fillSeq, shared: $0) }
            .flatMapErrorThrowing { _ in FillGuard(fillSeq: fillSeq, shared: nil) })
    }

    /// Stores a filled answer unless a purge overtook the fill: L1, and with Redis first
    /// Redis by compare-and-set (a filled entry is in Redis before its client has the
    /// answer). `scopeIDs` are the entry's purge scopes, `tagIDs` its tags' (known only
    /// now, from the answer: their shared counters join the entry's guard here).
    public func commit(_ key: CacheKey, status: Int, timing: EntryTiming, head: ByteBuffer, body: ByteBuffer,
                       scopeIDs: [UInt64], tagIDs: [UInt64], under fill: FillGuard, now: Timestamp,
                       on loop: any EventLoop) -> StoreStep<Commit> {
        let allScopes = scopeIDs + tagIDs
        @Sendable func entry(_ generations: EntryCodec.Generations?) -> CacheEntry {
            CacheEntry(head: head, body: body, status: status, timing: timing, fillSeq: fill.fillSeq, scopeIDs: allScopes,
                       generations: generations)
        }
        guard ledger.mayStore(fillSeq: fill.fillSeq, scopeIDs: allScopes) else {
            return .now(Commit(entry: entry(nil), outcome: .purged))
        }
        guard let shared else {
            let local = entry(nil)
            return .now(Commit(entry: local, outcome: memory.set(key, local) ? .stored : .tooLarge))
        }
        guard let filledUnder = fill.shared else { return .now(keepLocally(key, entry(nil), shared, trouble: nil)) }
        let guarded: EventLoopFuture<EntryCodec.Generations?> = tagIDs.isEmpty
            ? loop.makeSucceededFuture(filledUnder)
            : shared.currentGenerations(scopes: tagIDs, key: key, on: loop).map { tags in
                tags.flatMap { $0.epoch == filledUnder.epoch
                    ? EntryCodec.Generations(epoch: filledUnder.epoch, values: filledUnder.values + $0.values,
                                             tagSequence: filledUnder.tagSequence) : nil }
            }
        return .later(guarded.flatMap { generations -> EventLoopFuture<Commit> in
            guard let generations else { return loop.makeSucceededFuture(Commit(entry: entry(nil), outcome: .purged)) }
            return shared.store(key, status: status, timing: timing, head: head, body: body, generations: generations,
                                tags: tagIDs, now: now, on: loop).map { [self] accepted in
                let stored = entry(generations)
                guard accepted else { return Commit(entry: stored, outcome: .purged) }
                stored.confirmed(at: now)
                memory.set(key, stored)
                return Commit(entry: stored, outcome: .stored)
            }
        }.flatMapErrorThrowing { [self] error in
            keepLocally(key, entry(filledUnder), shared, trouble: StoreTrouble(error))
        })
    }

    /// Redis could not take a fill. Fast mode keeps it in L1 (this instance serves it);
    /// strict mode keeps nothing Redis cannot vouch for (DESIGN `store.outageGrace`).
    private func keepLocally(_ key: CacheKey, _ local: CacheEntry, _ shared: RedisStore, trouble: StoreTrouble?) -> Commit {
        guard shared.consistency == .fast else { return Commit(entry: local, outcome: .notKept, trouble: trouble) }
        return Commit(entry: local, outcome: memory.set(key, local) ? .storedLocally : .tooLarge, trouble: trouble)
    }
}
