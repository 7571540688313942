import Logging
import NIOCore
import SidecacheCore

/// The cache as the proxy sees it: the in-process L1 (a byte-bounded LRU) with its
/// purge ledger and, when configured, Redis as the shared L2.
///
/// It owns what makes the two tiers one cache — confirming L1 hits against the shared
/// purge state (strict) or following published purges (fast), reading an L2 entry
/// together with the counters a fill must be stored under, copying L2 entries into L1,
/// the compare-and-set fill, purges in both tiers (journaled while Redis is away) — so
/// its callers speak only of keys, entries, fills and purges. Redis trouble is never
/// an error to them: each answer carries a `StoreTrouble` and is still usable.
public final class TieredStore: Sendable {
    public let memory: MemoryStore
    public let ledger: PurgeLedger
    let shared: RedisStore?
    private let subscriber: PurgeSubscriber?
    let logger: Logger

    /// `loops` are the event loops requests run on (one Redis connection each).
    /// `onRemotePurge` is told how many scopes another instance purged (fast mode).
    public init(options: StoreOptions, loops: [any EventLoop], logger: Logger,
                onRemotePurge: @escaping @Sendable (Int) -> Void = { _ in }) {
        let memory = MemoryStore(capacityBytes: options.memoryBytes)
        let ledger = PurgeLedger(onOverflow: { scopes in
            logger.warning("purge ledger full: every entry stored before now counts as purged (mutations named more distinct purge scopes than it keeps)",
                           metadata: ["scopes": "\(scopes)"])
        })
        self.memory = memory
        self.ledger = ledger
        self.logger = logger
        shared = options.shared.map { RedisStore(options: $0, loops: loops, logger: logger) }
        if let tier = options.shared, tier.consistency == .fast {
            subscriber = PurgeSubscriber(endpoint: tier.endpoint, tls: tier.tls, prefix: tier.prefix, loop: loops[0], logger: logger,
                                         onPurge: { message in
                                             if let at = message.softAt {
                                                 ledger.softPurge(ids: message.ids, at: at)
                                             } else {
                                                 ledger.purge(ids: message.ids)
                                                 if message.ids.contains(PurgeScope.all.id) { memory.removeAll() }
                                             }
                                             onRemotePurge(message.ids.count)
                                         },
                                         onResubscribe: {
                                             // Purges may have been missed meanwhile: L1 starts over.
                                             ledger.purge([.all])
                                             memory.removeAll()
                                             logger.info("L1 dropped after (re)subscribing to purges")
                                         })
        } else {
            subscriber = nil
        }
    }

    public func start() {
        shared?.start()
        subscriber?.start()
    }

    public func shutdown() {
        subscriber?.stop()
        shared?.shutdown()
    }

    /// Before `shutdown`: Redis gets until `grace` has passed to take the purges it is
    /// still owed (`RedisStore.settlePurges`).
    public func settlePurges(within grace: Duration) async {
        await shared?.settlePurges(within: grace)
    }

    /// The scope ids whose shared counters guard an entry of `scopeIDs`.
    static func guardScopes(_ scopeIDs: [UInt64]) -> [UInt64] { RedisStore.guardScopes(scopeIDs) }

    // MARK: Lookup

    /// An L1 entry may answer without Redis: there is an L1, and no `strict` Redis to
    /// confirm its entries first.
    var answersLocally: Bool { memory.capacityBytes > 0 && shared?.consistency != .strict }

    /// The L1 entry that `lookup` would answer with at once and as it is, without a
    /// closure for the scopes: held, valid against every purge, and `answersLocally`.
    /// Nil in every other case (nothing in L1, soft-purged, strict), which `lookup` then
    /// works through from the start; asking here first changes nothing it finds.
    public func localAnswer(_ key: CacheKey, now: Timestamp) -> CacheEntry? {
        guard answersLocally, let entry = memory.get(key, now: now), ledger.check(entry) == .valid else { return nil }
        return entry
    }

    /// `lookup`'s answer for an entry `localAnswer` gave: with the shared counters a fill
    /// must be stored under when there is Redis.
    public func lookup(ofLocal entry: CacheEntry) -> Lookup {
        Lookup(entry: entry, sharedGuard: shared == nil ? nil : entry.generations)
    }

    /// The entry for `key` that may be served (purge-checked in both tiers; freshness
    /// is the caller's decision), and what a fill for the key must be stored under.
    /// Memory only: answered now, without allocating. With Redis: L1 first; in strict
    /// mode an L1 entry is confirmed against the shared counters first; an L1 miss reads
    /// L2 and the counters in one round trip, and an L2 entry is copied into L1. The
    /// purge scopes of the key's entries are asked of the step's waiter, only when L2 is
    /// read (`LookupWaiter.lookupScopes`).
    public func lookup(_ key: CacheKey, now: Timestamp, on loop: any EventLoop) -> LookupStep {
        var local = memory.get(key, now: now)
        var staleSince: Timestamp?
        if let entry = local {
            switch ledger.check(entry) {
            case .valid: break
            case .stale(let since): staleSince = since
            case .purged: local = nil
            }
        }
        guard let shared else { return .now(Lookup(entry: local, staleSince: staleSince)) }
        // Soft-purged: Redis knows since when, and the counters its refresh must be stored under.
        guard let entry = local, staleSince == nil else {
            return .shared(.init(store: self, shared: shared, key: key, now: now, loop: loop))
        }
        guard shared.consistency == .strict else { return .now(Lookup(entry: entry, sharedGuard: entry.generations)) }
        guard shared.isUsable(for: key) else {
            return .now(unconfirmed(entry, now: now, trouble: StoreTrouble(kind: .unavailable, detail: "redis not usable: L1 entry unconfirmed")))
        }
        guard let filledUnder = entry.generations else {
            // Filled while Redis was away: it cannot be confirmed, so it is not served now.
            memory.remove(key)
            return .shared(.init(store: self, shared: shared, key: key, now: now, loop: loop))
        }
        return .confirming(.init(store: self, shared: shared, entry: entry, filledUnder: filledUnder, key: key, now: now, loop: loop))
    }

    /// Strict mode's L1 hit once Redis has answered (`LookupStep.Confirmation`): the entry
    /// if no purge moved its counters, else what L2 holds now; when Redis cannot say,
    /// the entry within `outageGrace` of its last confirmation (`unconfirmed`). Kept
    /// inside the confirmation's one object (`RedisStore.StrictCheck`) as its asker.
    struct StrictHit: ConfirmationAsker {
        let asked: LookupStep.Confirmation
        let waiter: NIOLoopBound<any LookupWaiter>

        var entry: CacheEntry { asked.entry }
        var loop: any EventLoop { asked.loop }

        func confirmed(_ outcome: Result<Bool, any Error>) {
            let store = asked.store
            switch outcome {
            case .success(true):
                asked.entry.confirmed(at: asked.now)   // the time the question was sent: no later purge was answered before it
                waiter.value.lookupAnswered(Lookup(entry: asked.entry, sharedGuard: asked.filledUnder))
            case .success(false):
                store.memory.remove(asked.key)   // purged by some instance
                store.readShared(asked.shared, asked.key, scopes: waiter.value.lookupScopes, now: asked.now, on: asked.loop,
                                 for: waiter)
            case .failure(let error):
                waiter.value.lookupAnswered(store.unconfirmed(asked.entry, now: asked.now, trouble: StoreTrouble(error)))
            }
        }
    }

    /// Whether `entry`, kept since its lookup to answer should the upstream fail, may
    /// still answer at `now`. In strict mode Redis is asked again: another instance
    /// may have purged it while the fetch ran, and its mutation been answered. Counters
    /// that moved by soft purges only leave it servable (its own fill's entry reads back
    /// stale since then); when Redis cannot say, `outageGrace` decides as for a hit.
    /// The ledger alone knows this instance's purges (and, in fast mode, the others' it
    /// has heard of). `scopes`: the key's purge scopes.
    public func mayStillServe(_ entry: CacheEntry, key: CacheKey, scopes: [UInt64], now: Timestamp,
                              on loop: any EventLoop) -> StoreStep<Bool> {
        guard ledger.isValid(entry) else { return .now(false) }
        guard let shared, shared.consistency == .strict else { return .now(true) }
        let servable = loop.makePromise(of: Bool.self)
        shared.confirm(entry, key: key, on: loop) { [self] outcome in
            switch outcome {
            case .success(true):
                servable.succeed(true)
            case .success(false):
                // The same fill's entry, only soft purges since: another entry stale from a soft
                // purge may have been filled after a hard one, which took this one away.
                let reread = LookupClosures(scopes: { scopes }) {
                    servable.succeed($0.staleSince != nil && $0.entry?.generations == entry.generations)
                }
                readShared(shared, key, scopes: scopes, now: now, on: loop, for: NIOLoopBound(reread, eventLoop: loop))
            case .failure:
                servable.succeed(entry.vouchedFor(within: shared.outageGrace, of: now))
            }
        }
        return .later(servable.futureResult)
    }

    /// Strict, and Redis cannot vouch for `entry` now: it is served only within
    /// `outageGrace` of the last time Redis did (DESIGN: no instance serves a purged
    /// answer for longer than that after the purging mutation was answered); after
    /// that it is a miss, and the fill's answer is not kept (see `commit`).
    private func unconfirmed(_ entry: CacheEntry, now: Timestamp, trouble: StoreTrouble) -> Lookup {
        guard let shared, entry.vouchedFor(within: shared.outageGrace, of: now) else { return Lookup(trouble: trouble) }
        return Lookup(entry: entry, sharedGuard: entry.generations, trouble: trouble)
    }

    /// Reads the entry and its counters from L2 in one round trip and tells `waiter` on
    /// `loop` what may be served.
    func readShared(_ shared: RedisStore, _ key: CacheKey, scopes: [UInt64], now: Timestamp, on loop: any EventLoop,
                    for waiter: NIOLoopBound<any LookupWaiter>) {
        shared.lookup(key, scopes: Self.guardScopes(scopes), on: loop,
                      for: SharedAnswer(store: self, key: key, fillSeq: ledger.current, now: now, waiter: waiter))
    }

    /// An L2 read's outcome, as the proxy serves it (`served`), for the lookup's waiter.
    /// Kept inside the read's one object (`RedisStore.EntryRead`).
    struct SharedAnswer: LookupAnswer {
        let store: TieredStore
        let key: CacheKey
        /// The local purge sequence before the read: an entry it finds was filled by then.
        let fillSeq: UInt64
        let now: Timestamp
        let waiter: NIOLoopBound<any LookupWaiter>

        func answered(_ result: Result<RedisStore.Lookup, any Error>) {
            switch result {
            case .success(let found): waiter.value.lookupAnswered(store.served(found, key, fillSeq: fillSeq, now: now))
            case .failure(let error): waiter.value.lookupAnswered(Lookup(trouble: StoreTrouble(error)))
            }
        }
    }

    /// What an L2 read found, as the proxy serves it (copied into L1 when fresh).
    private func served(_ found: RedisStore.Lookup, _ key: CacheKey, fillSeq: UInt64, now: Timestamp) -> Lookup {
        var lookup = Lookup(sharedGuard: found.current)
        switch found.rejected {
        case .undecodable?: lookup.trouble = StoreTrouble(kind: .corruptEntry, detail: "foreign, corrupt or badly framed entry")
        case .badSignature?: lookup.trouble = StoreTrouble(kind: .badSignature, detail: "entry not signed with store.signingKey")
        case nil: break
        }
        guard let stored = found.found else { return lookup }
        // The entry's own guard (its tags included), not just the request's scopes, and
        // the tag purge count read with it: a refresh of this copy is filled under both.
        var guardedBy = stored.decoded.generations
        guardedBy.tagSequence = found.current?.tagSequence
        var scopeIDs: [UInt64] = []
        scopeIDs.reserveCapacity(guardedBy.values.count)
        for value in guardedBy.values where value.scope != PurgeScope.all.id { scopeIDs.append(value.scope) }
        let entry = CacheEntry(head: stored.head, body: stored.body, status: stored.decoded.status,
                               timing: stored.decoded.timing, fillSeq: fillSeq, scopeIDs: scopeIDs, generations: guardedBy)
        guard ledger.isValid(entry) else { return lookup }
        lookup.entry = entry
        lookup.staleSince = found.staleSince
        entry.confirmed(at: now)
        // An L2 hit fills L1, same deadline; a soft-purged one is read from L2 until its refresh lands.
        if found.staleSince == nil { memory.set(key, entry) }
        return lookup
    }

    // MARK: Purge

    /// Soft purge (`"mode": "stale"`): the entries `scopes` cover are stale from `now`,
    /// here at once and then in Redis (`RedisStore.softPurge`), where it may turn hard.
    public func softPurge(_ scopes: [PurgeScope], at now: Timestamp, on loop: any EventLoop) -> StoreStep<Void> {
        guard !scopes.isEmpty else { return .now(()) }
        ledger.softPurge(scopes, at: now)
        guard let shared else { return .now(()) }
        return .later(shared.softPurge(scopes, at: now, on: loop))
    }

    /// Purges `scopes` here at once (before this returns), then in Redis; the step
    /// completes when Redis has them or they are journaled (it never fails). A
    /// mutation's answer waits for it: no instance serves the purged data after.
    public func purge(_ scopes: [PurgeScope], on loop: any EventLoop) -> StoreStep<Void> {
        guard !scopes.isEmpty else { return .now(()) }
        ledger.purge(scopes)
        if scopes.contains(.all) { memory.removeAll() }
        guard let shared else { return .now(()) }
        return .later(shared.purge(scopes, on: loop))
    }

    // MARK: Cross-instance coalescing

    /// Whether there is a shared tier whose instances coalesce fills together.
    public var isShared: Bool { shared != nil }

    /// With Redis: whether this instance fetches `key` now or waits for another's fill
    /// (see `RedisStore+Lease`). Without Redis: nil, this instance's own flights suffice.
    public func takeLease(_ key: CacheKey, for ttl: Duration, on loop: any EventLoop) -> EventLoopFuture<RedisStore.Lease>? {
        shared?.takeLease(key, for: ttl, on: loop)
    }

    public func releaseLease(_ key: CacheKey, token: String, on loop: any EventLoop) {
        shared?.releaseLease(key, token: token, on: loop)
    }

    /// Calls `done` on `loop` once another instance's fill of `key` is over, or after `bound`.
    public func awaitFill(of key: CacheKey, bound: Duration, on loop: any EventLoop, _ done: @escaping @Sendable () -> Void) {
        guard let shared else { return loop.execute(done) }
        let wake = shared.fillNotices.wait(for: key, bound: bound, on: loop, done)
        // The holder may have announced between our lease attempt and this wait: the
        // notice went by unheard. Its lease goes before it announces, so a lease gone now,
        // with the wait in place, means the fill is over.
        shared.leaseHeld(key, on: loop).whenSuccess { held in if !held { wake() } }
    }

    /// Removes the entry stored under `key` from both tiers (a wrong entry, not a purge:
    /// nothing else goes). Redis trouble is ignored: the entry then lives out its TTL there.
    public func drop(_ key: CacheKey, on loop: any EventLoop) {
        memory.remove(key)
        shared?.remove(key, on: loop)
    }

    // MARK: State, for probes and operators

    /// Nil without Redis.
    public var sharedStatus: SharedTierStatus? {
        shared.map { store in
            let link = store.linkStatus
            let l2 = store.l2State
            return SharedTierStatus(connected: link.connected, breaker: link.breaker, lastError: link.lastError,
                                    l2: l2.rawValue, usable: link.connected && l2 == .usable,
                                    memoryPolicy: store.memoryPolicy, cluster: store.clusterState)
        }
    }

    /// Redis's key count and memory; nil without Redis.
    public func sharedInfo(on loop: any EventLoop) -> EventLoopFuture<SharedTierInfo>? {
        shared?.info(on: loop)
    }

    /// One hit against a fixed-window counter shared by every instance; nil without Redis.
    public func sharedRateLimitHit(key: String, window: Duration, by: Int = 1, on loop: any EventLoop)
        -> EventLoopFuture<(count: Int, remainingMs: Int)>? {
        shared?.rateLimitHit(key: key, window: window, by: by, on: loop)
    }
}
