import Logging
import NIOCore
import NIOPosix
import SidecacheCore
@testable import SidecacheStore
import SidecacheTestSupport
import Synchronization
import Testing

/// The tiered store against a real redis-server, without HTTP: two stores sharing one
/// Redis play two proxy instances. Lookups, fills, purges, and Redis killed, paused,
/// flushed or holding values nobody should have written.
@Suite("Tiered store: L1 + Redis as one cache")
struct TieredStoreTests {
    static let loop = MultiThreadedEventLoopGroup.singleton.next()
    static let key = CacheKey(a: 1, b: 2, c: 3, d: 4)
    static let otherKey = CacheKey(a: 5, b: 6, c: 7, d: 8)
    static let scopes = PurgeScope.ids(route: "r", path: "/x/1")

    /// Two stores on one fresh redis-server; both stopped, and the server, on every path.
    /// `outageGrace` is long unless a test is about it: lookups use the real clock.
    /// `timeout` is `store.timeout`: 10 s unless a test is about running out of it. A
    /// command that runs out of time is an outage by design (L1 served, fills not kept),
    /// and at 1 s a loaded machine's first commands to a just-started server did: five
    /// tests failed on their first fill or lookup, two or three a full run.
    /// `memoryBytes` 0: no L1, every lookup reads Redis.
    static func withPair(consistency: Consistency = .strict, timeout: Duration = .seconds(10), outageGrace: Duration = .seconds(600),
                         memoryBytes: Int = 1 << 20,
                         _ body: (TieredStore, TieredStore, RedisServer) async throws -> Void) async throws {
        let redis = try await RedisServer.start()
        let options = StoreOptions(memoryBytes: memoryBytes, shared: SharedTierOptions(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port), consistency: consistency, timeout: timeout,
            outageGrace: outageGrace))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let a = TieredStore(options: options, loops: [loop], logger: logger)
        let b = TieredStore(options: options, loops: [loop], logger: logger)
        a.start()
        b.start()
        do {
            #expect(try await eventually { a.sharedStatus?.usable == true && b.sharedStatus?.usable == true })
            try await body(a, b, redis)
        } catch {
            a.shutdown(); b.shutdown(); await redis.stop()
            throw error
        }
        a.shutdown(); b.shutdown(); await redis.stop()
    }

    static func lookup(_ store: TieredStore, _ key: CacheKey = key, now: Timestamp = ManualClock.realNow()) async throws -> Lookup {
        try await store.lookup(key, now: now, on: loop).value(scopes: { scopes })
    }

    /// Looks up, then fills `body` under what the lookup read.
    static func fill(_ store: TieredStore, _ body: String, key: CacheKey = key, tags: [String] = [],
                     lifetime: Duration = .seconds(60)) async throws -> Commit {
        let found = try await lookup(store, key)
        return try await commit(store, body, key: key, under: store.beginFill(shared: found.sharedGuard), tags: tags, lifetime: lifetime)
    }

    static func commit(_ store: TieredStore, _ body: String, key: CacheKey = key, under fill: FillGuard,
                       tags: [String] = [], lifetime: Duration = .seconds(60)) async throws -> Commit {
        let now = ManualClock.realNow()
        let until = now + lifetime
        let timing = EntryTiming(birth: now, freshUntil: until, staleWhileRevalidateUntil: until,
                                 staleIfErrorUntil: until, revalidateUntil: until)
        let head = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n")
        return try await store.commit(key, status: 200, timing: timing, head: head, body: ByteBuffer(string: body),
                                      scopeIDs: scopes, tagIDs: PurgeScope.tagIDs(tags), under: fill, now: now, on: loop).value()
    }

    static func text(_ lookup: Lookup) -> String? { lookup.entry.map { String(buffer: $0.body) } }

    /// How many times `redis` ran `command` (lower case), from its `INFO commandstats`.
    static func calls(_ command: String, on redis: RedisServer) async throws -> Int {
        let stats = try await redis.cli("INFO", "commandstats")
        guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
              let field = line.split(separator: ",").first, let n = Int(field.split(separator: "=").last ?? "") else { return 0 }
        return n
    }

    @Test func aFillOnOneInstanceIsFoundByTheOther() async throws {
        try await Self.withPair { a, b, _ in
            let miss = try await Self.lookup(a)
            #expect(miss.entry == nil && miss.sharedGuard != nil && miss.trouble == nil)
            #expect(try await Self.fill(a, "v1").outcome == .stored)
            let found = try await Self.lookup(b)
            #expect(Self.text(found) == "v1")
            #expect(b.memory.entryCount == 1, "an L2 hit is copied into L1")
        }
    }

    @Test func aPurgeOnOneInstanceIsSeenByTheOtherAtOnce() async throws {
        try await Self.withPair { a, b, _ in
            _ = try await Self.fill(a, "v1")
            #expect(Self.text(try await Self.lookup(b)) == "v1")   // now in B's L1 too
            try await a.purge([.path("/x/1")], on: Self.loop).value()
            let after = try await Self.lookup(b)
            #expect(after.entry == nil, "strict: B's L1 copy is confirmed against Redis and refused")
            #expect(b.memory.entryCount == 0)
        }
    }

    /// DESIGN "purge state survives partial loss": after a purge, losing any key but an
    /// entry (eviction, DEL, a failover that lost writes) never makes the purged entry
    /// valid again, neither through Redis nor through an L1 copy confirmed before.
    @Test func losingAnyKeyButAnEntryNeverRevivesAPurgedEntry() async throws {
        var victims: [String] = []
        try await Self.withPair { a, _, redis in
            _ = try await Self.fill(a, "v1")
            try await a.purge([.path("/x/1")], on: Self.loop).value()
            victims = try await redis.cli("KEYS", "*").split(separator: "\n").map(String.init).filter { !$0.contains(":e:") }.sorted()
        }
        #expect(victims.count >= 4, "epoch, sequence and the counters: \(victims)")
        for victim in victims {
            try await Self.withPair { a, b, redis in
                _ = try await Self.fill(a, "v1")
                #expect(Self.text(try await Self.lookup(b)) == "v1")   // an L1 copy in B…
                #expect(Self.text(try await Self.lookup(b)) == "v1")   // …confirmed once
                try await a.purge([.path("/x/1")], on: Self.loop).value()
                _ = try await redis.cli("DEL", victim)
                #expect(try await Self.lookup(b).entry == nil, "B's L1 copy after losing \(victim)")
                #expect(try await Self.lookup(a).entry == nil, "Redis's entry after losing \(victim)")
                #expect(try await eventually { a.sharedStatus?.usable == true })
                #expect(try await Self.lookup(a).entry == nil, "again, once usable, after losing \(victim)")
                #expect(try await Self.lookup(b).entry == nil)
            }
        }
    }

    /// Counters are created with fresh values and expire no sooner than the entries
    /// filled under them; a lost one guards nothing until the next fill creates it afresh.
    @Test func countersStartFreshAndLiveAsLongAsTheirEntries() async throws {
        try await Self.withPair { a, b, redis in
            _ = try await Self.fill(a, "v1")   // creates the counters; the entry lives 60 s
            let counters = try await redis.cli("KEYS", "*:g:*").split(separator: "\n").map(String.init)
            #expect(counters.count >= 3)
            for key in counters {
                #expect((UInt64(try await redis.cli("GET", key)) ?? 0) > 1 << 40, "\(key): a fresh value, not 0 counted up")
                let ttl = Int(try await redis.cli("PTTL", key)) ?? -1
                #expect(ttl > 55_000, "\(key) lives at least as long as the entry: \(ttl) ms")
            }
            for key in counters { _ = try await redis.cli("DEL", key) }
            try await a.purge([.path("/x/1")], on: Self.loop).value()
            #expect(try await redis.cli("KEYS", "*:g:*").isEmpty, "a purge does not bring back what guards nothing")
            #expect(try await Self.lookup(b).entry == nil, "lost counters: the entry is a miss")
            let again = try await redis.cli("KEYS", "*:g:*").split(separator: "\n").map(String.init)
            #expect(again.count == counters.count, "the lookup created them for the next fill")
        }
    }

    /// An entry kept for ages (10^15 s, which a targeted field's 15 digits allowed before
    /// they were held to 2^31): the script handed PEXPIRE the lifetime as a Lua number,
    /// printed `1e+18`, which Redis refused after the entry was already set, so the
    /// store said "not stored" while the entry stayed, guarded by counters that expired
    /// long before it.
    @Test func anEntryKeptForAgesExtendsItsCounters() async throws {
        try await Self.withPair { a, b, redis in
            #expect(try await Self.fill(a, "v1", lifetime: .seconds(1_000_000_000_000_000)).outcome == .stored)
            let counters = try await redis.cli("KEYS", "*:g:*").split(separator: "\n").map(String.init)
            #expect(counters.count >= 3)
            for key in counters {
                let ttl = Int(try await redis.cli("PTTL", key)) ?? -1
                #expect(ttl > 900_000_000_000_000_000, "\(key) lives as long as the entry: \(ttl) ms")
            }
            #expect(Self.text(try await Self.lookup(b)) == "v1")
        }
    }

    /// A lease release announces the end of a fill only when it ended the lease: a late
    /// one (a retry, or one for a SET that never ran) woke the waiters of another
    /// instance's fill, and each of them fetched.
    @Test func aLeaseReleaseAnnouncesOnlyALeaseItEnded() async throws {
        let redis = try await RedisServer.start()
        func publishes() async throws -> Int { try await Self.calls("publish", on: redis) }
        func release(_ token: String) async throws {
            _ = try await redis.cli("EVAL", RedisStore.releaseAndAnnounce, "1", "lease", token, "fills", "key")
        }
        _ = try await redis.cli("SET", "lease", "another-holder")
        try await release("mine")
        #expect(try await redis.cli("GET", "lease").contains("another-holder"))
        #expect(try await publishes() == 0, "another instance's fill is not announced over")
        _ = try await redis.cli("SET", "lease", "mine")
        try await release("mine")
        #expect(try await redis.cli("EXISTS", "lease").contains("0"))
        #expect(try await publishes() == 1)
        await redis.stop()
    }

    /// Strict L1 hits are confirmed by the cheap probe (`MGET epoch seq`) once one full
    /// check has vouched for the entry, also before any purge ever happened (then the
    /// full check creates the purge sequence the probe reads).
    @Test func strictHitsProbeAfterOneFullCheckEvenBeforeAnyPurge() async throws {
        try await Self.withPair { a, b, redis in
            _ = try await Self.fill(a, "v1")
            #expect(Self.text(try await Self.lookup(b)) == "v1")   // B's L1 copy, from L2
            let getsBefore = try await Self.calls("get", on: redis)
            for _ in 1...20 { #expect(Self.text(try await Self.lookup(b)) == "v1") }
            #expect(try await Self.calls("get", on: redis) - getsBefore == 1, "one full check (GET seq), then probes only")
        }
    }

    /// The strict L1 hits of one loop pass share one probe, and it answers each of them.
    @Test func strictHitsOfOneLoopPassShareOneProbe() async throws {
        try await Self.withPair { a, b, redis in
            _ = try await Self.fill(a, "v1")
            #expect(Self.text(try await Self.lookup(b)) == "v1")   // B's L1 copy, from L2
            #expect(Self.text(try await Self.lookup(b)) == "v1")   // its full check: probes from here on
            let probesBefore = try await Self.calls("mget", on: redis)
            let hits = Mutex(0)
            try await Self.loop.submit {
                for _ in 1...5 {
                    b.lookup(Self.key, now: ManualClock.realNow(), on: Self.loop).whenReady(scopes: { Self.scopes }) { found in
                        if Self.text(found) == "v1" { hits.withLock { $0 += 1 } }
                    }
                }
            }.get()
            #expect(try await eventually { hits.withLock { $0 } == 5 }, "each answered by the one probe")
            #expect(try await Self.calls("mget", on: redis) - probesBefore == 1, "five hits of one pass, one probe")
        }
    }

    /// Without L1, the lookups of one loop pass for one key (a hot key's hits) share one
    /// read of Redis, and it answers each of them with the entry.
    @Test func lookupsOfOneKeyInOneLoopPassShareOneRead() async throws {
        try await Self.withPair(consistency: .fast, memoryBytes: 0) { a, b, redis in
            #expect(try await Self.fill(a, "v1").outcome == .stored)
            #expect(Self.text(try await Self.lookup(b)) == "v1")
            let readsBefore = try await Self.calls("mget", on: redis)
            let found = Mutex<[String?]>([])
            try await Self.loop.submit {
                for _ in 1...5 {
                    b.lookup(Self.key, now: ManualClock.realNow(), on: Self.loop).whenReady(scopes: { Self.scopes }) { lookup in
                        found.withLock { $0.append(Self.text(lookup)) }
                    }
                }
            }.get()
            #expect(try await eventually { found.withLock { $0.count } == 5 })
            #expect(found.withLock { $0 } == Array(repeating: "v1", count: 5), "each answered with the entry")
            #expect(try await Self.calls("mget", on: redis) - readsBefore == 1, "five lookups of one pass, one read")
        }
    }

    /// Lookups are shared only when they send the very same read: two keys of one pass
    /// that differ in their last words only each get their own entry.
    @Test func lookupsOfTwoKeysInOneLoopPassAreNotShared() async throws {
        let twin = CacheKey(a: Self.key.a, b: Self.key.b, c: 99, d: 99)
        try await Self.withPair(consistency: .fast, memoryBytes: 0) { a, b, _ in
            #expect(try await Self.fill(a, "v1").outcome == .stored)
            #expect(try await Self.fill(a, "twin", key: twin).outcome == .stored)
            let found = Mutex<[CacheKey: String?]>([:])
            try await Self.loop.submit {
                for key in [Self.key, twin] {
                    b.lookup(key, now: ManualClock.realNow(), on: Self.loop).whenReady(scopes: { Self.scopes }) { lookup in
                        found.withLock { $0[key] = Self.text(lookup) }
                    }
                }
            }.get()
            #expect(try await eventually { found.withLock { $0.count } == 2 })
            #expect(found.withLock { $0[Self.key] } == "v1")
            #expect(found.withLock { $0[twin] } == "twin", "its own entry, not the other key's")
        }
    }

    /// A probe answered before its loop pass's flush ran (its deadline passed while the
    /// loop was held) takes no more callers: one that joined it then waited for good.
    @Test func aProbeAnsweredBeforeItsFlushTakesNoMoreCallers() async throws {
        try await Self.withPair(timeout: .milliseconds(200)) { a, b, _ in
            // Each step again should one outlast the short timeout on a loaded machine.
            #expect(try await eventually { try await Self.fill(a, "v1").outcome == .stored })
            #expect(try await eventually { Self.text(try await Self.lookup(b)) == "v1" })   // B's L1 copy, from L2
            #expect(try await eventually { (try await Self.lookup(b)).trouble == nil })   // its full check: probes from here on
            let answered = Mutex(false)
            try await Self.loop.submit {
                // NIO takes an immediate and a due scheduled task in turn: the due deadline
                // timer (and any other due task) runs before the late caller.
                for _ in 0..<8 { Self.loop.execute {} }
                Self.loop.execute {
                    b.lookup(Self.key, now: ManualClock.realNow(), on: Self.loop).whenReady(scopes: { Self.scopes }) { _ in
                        answered.withLock { $0 = true }
                    }
                }
                b.lookup(Self.key, now: ManualClock.realNow(), on: Self.loop).whenReady(scopes: { Self.scopes }) { _ in }
                usleep(300_000)   // past the probe's deadline, before this pass's flush
            }.get()
            #expect(try await eventually { answered.withLock { $0 } }, "the later caller is answered")
        }
    }

    @Test func aFillThatAPurgeOvertookIsNotStored() async throws {
        try await Self.withPair { a, b, _ in
            let found = try await Self.lookup(a)
            let fill = a.beginFill(shared: found.sharedGuard)
            try await b.purge([.path("/x/1")], on: Self.loop).value()   // another instance purges meanwhile
            #expect(try await Self.commit(a, "stale", under: fill).outcome == .purged)
            #expect(try await Self.lookup(b).entry == nil)
            #expect(try await Self.lookup(a).entry == nil)
        }
    }

    /// A fill's tags are known only from its answer, so no counter of theirs was read when
    /// it began: another instance's tag purge meanwhile (the counter not there yet, or
    /// moved before the commit read it) let the answer from before the mutation be stored.
    @Test(arguments: [false, true])
    func aFillThatAnotherInstancesTagPurgeOvertookIsNotStored(counterExisted: Bool) async throws {
        try await Self.withPair { a, b, _ in
            if counterExisted { #expect(try await Self.fill(a, "old", key: Self.otherKey, tags: ["user-7"]).outcome == .stored) }
            let found = try await Self.lookup(a)
            let fill = a.beginFill(shared: found.sharedGuard)
            try await b.purge([.tag("user-7")], on: Self.loop).value()   // the mutation, answered on B
            #expect(try await Self.commit(a, "from before the mutation", under: fill, tags: ["user-7"]).outcome == .purged)
            #expect(try await Self.lookup(b).entry == nil)
            // A fill that begins after the purge is stored, at once.
            #expect(try await Self.fill(a, "after the mutation", tags: ["user-7"]).outcome == .stored)
        }
    }

    /// The purge's mark key lost (`volatile-*` eviction takes it: it has a TTL, and it is
    /// rarely read) before the fill commits: the fill stored its answer from before the
    /// mutation for good. The stripe's set of recent tag purges (no TTL) still tells; and
    /// with that set lost too, the tag purge count moving since the fill began does.
    @Test(arguments: [false, true])
    func aFillThatATagPurgeOvertookIsNotStoredWhenTheMarkIsLost(setLostToo: Bool) async throws {
        try await Self.withPair { a, b, redis in
            let found = try await Self.lookup(a)
            let fill = a.beginFill(shared: found.sharedGuard)
            try await b.purge([.tag("user-7")], on: Self.loop).value()
            let marks = try await redis.cli("KEYS", "sidecache:t:*").split(separator: "\n").map(String.init)
            #expect(marks.count == 1, "\(marks)")
            for mark in marks { _ = try await redis.cli("DEL", mark) }
            if setLostToo { #expect(try await redis.cli("DEL", "sidecache:tpurged") == "1") }
            #expect(try await Self.commit(a, "from before the mutation", under: fill, tags: ["user-7"]).outcome == .purged)
            #expect(try await Self.fill(a, "after the mutation", tags: ["user-7"]).outcome == .stored)
        }
    }

    @Test func aTagPurgeReachesEntriesOfEveryInstance() async throws {
        try await Self.withPair { a, b, _ in
            #expect(try await Self.fill(a, "tagged", tags: ["user-7"]).outcome == .stored)
            #expect(Self.text(try await Self.lookup(b)) == "tagged")
            try await b.purge([.tag("user-7")], on: Self.loop).value()
            #expect(try await Self.lookup(a).entry == nil)
        }
    }

    @Test func aValueNobodyShouldHaveWrittenIsAMissWithTrouble() async throws {
        try await Self.withPair { a, _, redis in
            try await redis.set(RedisKeys(prefix: "sidecache:").entry(Self.key), bytes: Array("SCE\u{1}garbage".utf8))
            let found = try await Self.lookup(a)
            #expect(found.entry == nil)
            #expect(found.trouble?.kind == .corruptEntry)
        }
    }

    /// Counters are Redis's to count, but anything that can write to it may set one: a
    /// negative one (which once trapped converting it) is a counter like any other.
    @Test func aNegativeCounterIsAMissNotACrash() async throws {
        try await Self.withPair { a, b, redis in
            #expect(try await Self.fill(a, "v1").outcome == .stored)
            let keys = RedisKeys(prefix: "sidecache:")
            for scope in RedisStore.guardScopes(Self.scopes) { try await redis.set(keys.generation(scope, 0), bytes: Array("-1".utf8)) }
            let found = try await Self.lookup(b)   // b has no L1 copy: it reads the counters with the entry
            #expect(found.entry == nil)
            #expect(found.sharedGuard?.values.map(\.value) == Array(repeating: UInt64.max, count: Self.scopes.count + 1))
        }
    }

    @Test func aFlushRevivesNothing() async throws {
        try await Self.withPair { a, b, redis in
            _ = try await Self.fill(a, "v1")
            #expect(Self.text(try await Self.lookup(b)) == "v1")
            _ = try await redis.cli("FLUSHALL")
            // B's L1 copy was filled under the old epoch: it is never served again.
            #expect(try await Self.lookup(b).entry == nil)
            #expect(try await eventually { b.sharedStatus?.usable == true })
            #expect(try await Self.lookup(b).entry == nil)
        }
    }

    /// Redis restarted from a snapshot taken before a purge (RDB or AOF persistence, or a
    /// replica promoted with older data) brings back the purged entry and the counters it
    /// was filled under. The epoch set on another server process is replaced at connect,
    /// so nothing from before is served: DESIGN "a Redis restart or flush must not
    /// revive old entries". The old epoch was kept (`SET NX`), and the entry came back.
    @Test func aRestartFromASnapshotRevivesNothing() async throws {
        try await Self.withPair { a, b, redis in
            #expect(try await Self.fill(a, "v1").outcome == .stored)
            _ = try await redis.cli("SAVE")
            try await a.purge([.path("/x/1")], on: Self.loop).value()
            #expect(try await Self.lookup(b).entry == nil, "purged")
            try await redis.restart()
            #expect(try await !redis.cli("KEYS", "*:e:*").isEmpty, "the snapshot brought the entry back")
            for store in [b, a] {
                // Until Redis answers it: right after the restart a store may not have seen
                // its connection go yet, or be connecting again.
                let clock = ContinuousClock()
                let deadline = clock.now.advanced(by: .seconds(20))
                var after = try await Self.lookup(store)
                while after.trouble != nil && clock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                    after = try await Self.lookup(store)
                }
                #expect(after.trouble == nil, "Redis answered the lookup")
                #expect(after.entry == nil, "the purged entry, back from the snapshot, is not served")
            }
        }
    }

    /// `holder` takes the lease on `key`, and `other` finds it held; the holder's token,
    /// or nil (recorded as an issue) if either went otherwise.
    static func leaseHeld(by holder: TieredStore, seenBy other: TieredStore) async throws -> String? {
        guard case .granted(let token)? = try await holder.takeLease(key, for: .seconds(60), on: loop)?.get() else {
            Issue.record("the holder got the lease"); return nil
        }
        guard case .heldElsewhere? = try await other.takeLease(key, for: .seconds(60), on: loop)?.get() else {
            Issue.record("the other sees it held"); return nil
        }
        return token
    }

    /// A fill announced before the waiter started listening: the holder's lease is gone by
    /// then, so the wait ends at once instead of at its bound. The notice went by unheard
    /// and the waiter slept its whole bound (and its own waiters then each fetched alone).
    @Test func aFillAnnouncedBeforeTheWaitEndsTheWaitAtOnce() async throws {
        try await Self.withPair { a, b, redis in
            guard let token = try await Self.leaseHeld(by: a, seenBy: b) else { return }
            a.releaseLease(Self.key, token: token, on: Self.loop)   // announced: nobody listens yet
            #expect(try await eventually { try await redis.cli("KEYS", "*l:*").isEmpty })
            let woken = Atomic<Bool>(false)
            b.awaitFill(of: Self.key, bound: .seconds(60), on: Self.loop) { woken.store(true, ordering: .relaxed) }
            #expect(try await eventually(timeout: .seconds(10)) { woken.load(ordering: .relaxed) }, "not at the 60 s bound")
        }
    }

    /// Redis gone while a peer's fill is waited on: the holder's announcement can no
    /// longer reach anyone, so the wait ends then, not at its bound (`upstreamTimeout`,
    /// 30 s by default: a client's GET in the cluster failover test outlived its own 30 s).
    @Test func aWaitOnAPeerEndsWhenRedisGoes() async throws {
        try await Self.withPair { a, b, redis in
            guard try await Self.leaseHeld(by: a, seenBy: b) != nil else { return }
            let woken = Atomic<Bool>(false)
            b.awaitFill(of: Self.key, bound: .seconds(60), on: Self.loop) { woken.store(true, ordering: .relaxed) }
            try await Task.sleep(for: .milliseconds(300))
            let standing = !woken.load(ordering: .relaxed)
            #expect(standing, "the lease is held and Redis is up: the wait stands")
            redis.kill()
            #expect(try await eventually(timeout: .seconds(10)) { woken.load(ordering: .relaxed) }, "not at the 60 s bound")
        }
    }

    /// A wait begun when Redis cannot say whether the lease is still held: it ends at once.
    @Test func aWaitBegunWhileRedisIsAwayEndsAtOnce() async throws {
        try await Self.withPair { a, b, redis in
            guard try await Self.leaseHeld(by: a, seenBy: b) != nil else { return }
            redis.kill()
            #expect(try await eventually { b.sharedStatus?.connected == false })
            let woken = Atomic<Bool>(false)
            b.awaitFill(of: Self.key, bound: .seconds(60), on: Self.loop) { woken.store(true, ordering: .relaxed) }
            #expect(try await eventually(timeout: .seconds(10)) { woken.load(ordering: .relaxed) }, "not at the 60 s bound")
        }
    }

    /// Redis killed: L1 still answers (within `outageGrace`), fills are not kept (strict)
    /// and say so, purges are journaled and reach Redis once it is back, before anything
    /// is read from it again.
    @Test func aKilledRedisIsNeverTheCallersTrouble() async throws {
        // The default command timeout: a killed server fails commands at once anyway,
        // and 200 ms let a loaded machine's fill before the kill time out.
        try await Self.withPair { a, b, redis in
            _ = try await Self.fill(a, "v1")
            redis.kill()
            #expect(try await eventually { a.sharedStatus?.connected == false })
            let unconfirmed = try await Self.lookup(a)
            #expect(Self.text(unconfirmed) == "v1", "L1 answers while Redis is away")
            #expect(unconfirmed.trouble?.kind == .unavailable, "strict could not confirm it: the caller hears so")
            let other = CacheKey(a: 9, b: 9, c: 9, d: 9)
            let local = try await Self.fill(a, "local", key: other)
            #expect(local.outcome == .notKept, "strict keeps nothing Redis cannot vouch for")
            #expect(try await Self.lookup(a, other).entry == nil)
            try await a.purge([.path("/x/1")], on: Self.loop).value()   // journaled; never fails
            #expect(a.sharedStatus?.l2 == "purges-pending")
            #expect(try await Self.lookup(a).entry == nil, "the local purge applied at once")
            try await redis.restart()
            #expect(try await eventually(timeout: .seconds(20)) { a.sharedStatus?.usable == true && b.sharedStatus?.usable == true },
                    "the journal was replayed and a new epoch set")
            // Strict: an L1 entry that Redis cannot vouch for (filled away, new epoch) is not served.
            #expect(try await Self.lookup(a, other).entry == nil)
        }
    }

    /// Redis paused: every operation still ends (bounded by the command timeout) and
    /// reports the trouble instead of failing.
    @Test func aPausedRedisMakesNoOperationFail() async throws {
        try await Self.withPair(timeout: .milliseconds(200)) { a, _, redis in
            redis.pause()
            defer { redis.resume() }
            let miss = try await Self.lookup(a)
            #expect(miss.entry == nil && miss.trouble?.kind == .unavailable)
            let commit = try await Self.fill(a, "local")
            #expect(commit.outcome == .notKept)
            try await a.purge([.path("/x/1")], on: Self.loop).value()
            #expect(try await Self.lookup(a).entry == nil)
        }
    }

    /// DESIGN `store.outageGrace`: while Redis cannot be asked, an L1 entry is served only
    /// until `outageGrace` after Redis last vouched for it; then it is a miss.
    @Test func anUnconfirmableEntryIsServedOnlyWithinOutageGrace() async throws {
        try await Self.withPair(outageGrace: .seconds(2)) { a, _, redis in
            let before = ManualClock.realNow()
            #expect(try await Self.fill(a, "v1").outcome == .stored)
            let after = ManualClock.realNow()
            redis.kill()
            #expect(try await eventually { a.sharedStatus?.connected == false })
            let within = try await Self.lookup(a, now: before + .milliseconds(1900))
            #expect(Self.text(within) == "v1" && within.trouble?.kind == .unavailable)
            let past = try await Self.lookup(a, now: after + .milliseconds(2100))
            #expect(past.entry == nil && past.trouble?.kind == .unavailable, "past the grace: a miss")
        }
    }

    /// Fast mode has no outage bound: fills made while Redis is away stay in this L1.
    @Test func fastModeKeepsFillsLocallyWhileRedisIsAway() async throws {
        try await Self.withPair(consistency: .fast, timeout: .milliseconds(200)) { a, _, redis in
            redis.kill()
            let away = try await eventually { a.sharedStatus?.connected == false }
            let filled = try await Self.fill(a, "local")
            let found = try await Self.lookup(a)
            #expect(away && filled.outcome == .storedLocally)
            #expect(Self.text(found) == "local")
        }
    }
}

extension StoreStep {
    /// The value, waiting for Redis when the step needs it.
    func value() async throws -> Value {
        switch self {
        case .now(let value): value
        case .later(let future): try await future.get()
        }
    }
}

extension LookupStep {
    /// The lookup, waiting for Redis when the step needs it (which asks for `scopes` when it reads L2).
    func value(scopes: @escaping @Sendable () -> [UInt64]) async throws -> Lookup {
        if case .now(let lookup) = self { return lookup }
        return await withCheckedContinuation { done in whenReady(scopes: scopes) { done.resume(returning: $0) } }
    }
}
