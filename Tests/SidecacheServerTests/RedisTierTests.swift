import Foundation
import NIOPosix
import SidecacheCore
@testable import SidecacheMetrics
@testable import SidecacheServer
import Testing
import SidecacheTestSupport
import Synchronization

/// Real redis-server per test (see RedisServer), two proxy instances sharing it.
@Suite("Redis tier: one cache and one truth about purges across instances", .serialized)
struct RedisTierTests {
    /// Without L1 every hit comes from Redis, and a client without gzip gets each entry
    /// decoded; a thread keeps the forms it decoded last (`RecentlyDecoded`). A purged
    /// and refilled entry is never answered with the form of the one before it.
    @Test func redisOnlyPlainClientsGetEachVersionDecoded() async throws {
        try await withRedisPair(memory: "0") { p in
            // 2 KiB of JSON: stored gzipped. Every version is as long as the others.
            @Sendable func body(_ v: Int) -> String { #"{"v":\#(v),"pad":"\#(String(repeating: "ab", count: 1000))"}"# }
            let version = Mutex(1)
            p.origin.on("GET", "/api/users/1") { _ in .json(body(version.withLock { $0 })) }
            p.origin.on("PUT", "/api/users/1") { _ in version.withLock { $0 += 1 }; return .json("{}") }
            for port in [p.portA, p.portA, p.portA, p.portB] {
                let r = try await p.get(port, "/api/users/1")
                #expect(r.text == body(1) && r.header("Content-Encoding") == nil)
            }
            let zipped = try await p.get(p.portA, "/api/users/1", headers: [("Accept-Encoding", "gzip")])
            #expect(zipped.header("Content-Encoding") == "gzip", "stored gzipped: the forms above were decoded")
            #expect(try await p.send(p.portA, "PUT", "/api/users/1").status == 200)
            for port in [p.portA, p.portA, p.portB, p.portB] {
                #expect(try await p.get(port, "/api/users/1").text == body(2))
            }
            #expect(p.origin.count("GET", path: "/api/users/1") == 2)
        }
    }

    /// DESIGN: "A filled entry is in Redis before its client has the whole answer."
    /// Redis is paused after the origin was asked and before it answers: A's client gets
    /// nothing while Redis cannot take the entry; once Redis wakes, the client has its
    /// answer, marked stored, and B's first read is a HIT. (The test-quality audit: B
    /// was asked only after A's client had its answer, so a write to Redis after the
    /// reply passed.)
    @Test func aFillIsInRedisBeforeItsClientHasTheAnswer() async throws {
        try await withRedisPair(timeout: "10s") { p in
            let gate = CoalescingTests.Gate()
            p.origin.on("GET", "/api/users/1") { _ in
                await gate.wait()
                return .json(#"{"id":1}"#)
            }
            let answered = Atomic(false)
            let fill = Task {
                defer { answered.store(true, ordering: .relaxed) }
                return try await p.get(p.portA, "/api/users/1")
            }
            #expect(try await eventually { p.origin.count(path: "/api/users/1") == 1 })
            p.redis.pause()
            gate.release()
            try await Task.sleep(for: .milliseconds(500))
            let early = answered.load(ordering: .relaxed)
            #expect(!early, "A's client had its answer while Redis could not have the entry")
            p.redis.resume()
            let answer = try await fill.value
            #expect(answer.text == #"{"id":1}"#)
            #expect(answer.header("Cache-Status") == CacheStatusField.miss(stored: true))
            #expect(try await p.get(p.portB, "/api/users/1").header("X-Cache") == "HIT")
        }
    }

    @Test func fillOnOneInstanceIsAHitOnTheOther() async throws {
        try await withRedisPair { p in
            p.origin.on("GET", "/api/users/1", .json(#"{"id":1}"#))
            let onA = try await p.get(p.portA, "/api/users/1")
            let onB = try await p.get(p.portB, "/api/users/1")
            #expect(onA.header("X-Cache") == "MISS")
            #expect(onB.header("X-Cache") == "HIT")
            #expect(onB.text == #"{"id":1}"#)
            #expect(p.origin.count(path: "/api/users/1") == 1)
        }
    }

    /// Strict: an expired entry kept to answer should the upstream fail is asked about
    /// again before it answers, by the fill's leader and by its waiters. Another instance
    /// purged it while the fetch ran (its mutation answered), and the upstream's 500 then
    /// brought the purged answer back. A soft purge (`"mode": "stale"`) leaves it
    /// answering within its stale windows, as on one instance.
    @Test(arguments: [false, true])
    func staleIfErrorDoesNotServeWhatAnotherInstancePurgedMeanwhile(soft: Bool) async throws {
        let routes = #"[ { "name": "list", "match": "GET /api/lists/{name}", "ttl": "1s", "staleIfError": "10m" } ]"#
        let purge = #"[ { "on": "PUT /api/users/{id}", "paths": ["/api/lists/all"]\#(soft ? #", "mode": "stale""# : "") } ]"#
        try await withRedisPair(routes: routes, purge: purge) { p in
            let fetches = Atomic<Int>(0)
            p.origin.on("GET", "/api/lists/all") { _ in
                fetches.add(1, ordering: .relaxed).newValue == 1
                    ? .json(#"{"name":"old"}"#) : OriginResponse(status: 500, body: .bytes(Array("down".utf8)), delay: .milliseconds(800))
            }
            p.origin.on("PUT", "/api/users/1", .json("{}"))
            _ = try await p.get(p.portA, "/api/lists/all")
            try await Task.sleep(for: .milliseconds(1200))   // expired, within stale-if-error
            async let leader = p.get(p.portA, "/api/lists/all")
            #expect(try await eventually { fetches.load(ordering: .relaxed) == 2 })
            async let waiter = p.get(p.portA, "/api/lists/all")
            // The waiter has joined the fill (counted as it starts waiting), not a guess at how long that takes.
            #expect(try await eventually { p.a.engine.metrics.routes.stats(for: "list").coalescedCount == 1 })
            #expect(try await p.send(p.portB, "PUT", "/api/users/1").status == 200)
            for answer in [try await leader, try await waiter] {
                if soft {
                    #expect(answer.status == 200 && answer.text.contains("old") && answer.header("X-Cache") == "STALE", "\(answer.status) \(answer.text) \(answer.header("Cache-Status") ?? "")")
                } else {
                    #expect(answer.status >= 500 && !answer.text.contains("old"), "the purged answer came back: \(answer.status) \(answer.text)")
                }
            }
            #expect(fetches.load(ordering: .relaxed) == 2, "the waiter joined the leader's fill")
        }
    }

    /// The re-check's soft-purge leniency is for the fallback's own fill: a hard purge,
    /// a refill and then a soft purge leave an entry in Redis that reads back stale, but
    /// it is not the fallback, whose data the hard purge took away.
    @Test func aFallbackHardPurgedThenRefilledAndSoftPurgedIsNotServed() async throws {
        let routes = #"[ { "name": "list", "match": "GET /api/lists/{name}", "ttl": "1s", "staleIfError": "10m" } ]"#
        let purge = #"""
        [ { "on": "PUT /api/users/{id}", "paths": ["/api/lists/all"] },
          { "on": "POST /api/users/{id}/touch", "paths": ["/api/lists/all"], "mode": "stale" } ]
        """#
        try await withRedisPair(routes: routes, purge: purge) { p in
            let fetches = Atomic<Int>(0)
            p.origin.on("GET", "/api/lists/all") { _ in
                switch fetches.add(1, ordering: .relaxed).newValue {
                case 1: .json(#"{"name":"old"}"#)
                case 2: OriginResponse(status: 500, body: .bytes(Array("down".utf8)), delay: .milliseconds(1500))
                default: .json(#"{"name":"new"}"#)
                }
            }
            p.origin.on("PUT", "/api/users/1", .json("{}"))
            p.origin.on("POST", "/api/users/1/touch", .json("{}"))
            _ = try await p.get(p.portA, "/api/lists/all")
            try await Task.sleep(for: .milliseconds(1200))   // expired, within stale-if-error
            async let failing = p.get(p.portA, "/api/lists/all")
            #expect(try await eventually { fetches.load(ordering: .relaxed) == 2 })
            #expect(try await p.send(p.portB, "PUT", "/api/users/1").status == 200)
            #expect(try await p.get(p.portB, "/api/lists/all").text.contains("new"))   // refilled on B
            #expect(try await p.send(p.portB, "POST", "/api/users/1/touch").status == 200)
            let answer = try await failing
            #expect(!answer.text.contains("old"), "the hard-purged answer came back: \(answer.status) \(answer.text)")
        }
    }

    /// Strict: once A's PUT answer is back, B (which holds the entry in its own L1)
    /// must not serve the purged answer.
    @Test func purgeOnOneInstanceIsSeenByTheOtherAtOnce() async throws {
        try await withRedisPair { p in
            p.versioned("/api/users/1")
            _ = try await p.get(p.portA, "/api/users/1")
            #expect(try await p.get(p.portB, "/api/users/1").header("X-Cache") == "HIT")   // now in B's L1 too
            let put = try await p.send(p.portA, "PUT", "/api/users/1")
            #expect(put.status == 200)
            let afterOnB = try await p.get(p.portB, "/api/users/1")
            #expect(afterOnB.text == #"{"v":2}"#)
            #expect(afterOnB.header("X-Cache") == "MISS")
        }
    }

    /// Purge before reply, raced: Redis holds every write for a second, so the PUT's
    /// purge cannot land sooner. Its answer waits for it (a proxy answering first would
    /// be done in milliseconds), and B, asked the moment the answer arrives, sees it.
    @Test func aMutationsAnswerWaitsForItsPurge() async throws {
        try await withRedisPair(timeout: "5s") { p in
            p.versioned("/api/users/3")
            _ = try await p.get(p.portA, "/api/users/3")
            #expect(try await p.get(p.portB, "/api/users/3").header("X-Cache") == "HIT")   // in B's L1 too
            _ = try await p.redis.cli("CLIENT", "PAUSE", "1000", "WRITE")
            let clock = ContinuousClock()
            let sent = clock.now
            let put = try await p.send(p.portA, "PUT", "/api/users/3")
            let took = clock.now - sent
            #expect(put.status == 200)
            #expect(took >= .milliseconds(800), "answered \(took) after it was sent: before its purge could land")
            #expect(try await p.get(p.portB, "/api/users/3").text == #"{"v":2}"#)
        }
    }

    @Test func fastModePurgeReachesTheOtherInstanceQuickly() async throws {
        try await withRedisPair(consistency: "fast") { p in
            p.versioned("/api/users/2")
            _ = try await p.get(p.portA, "/api/users/2")
            #expect(try await p.get(p.portB, "/api/users/2").header("X-Cache") == "HIT")
            _ = try await p.send(p.portA, "PUT", "/api/users/2")
            #expect(try await eventually(timeout: .seconds(5)) {
                try await p.get(p.portB, "/api/users/2").text == #"{"v":2}"#
            })
        }
    }

    /// A fleet mid-way through a change of `store.consistency`: a purge on a strict
    /// instance reaches a fast one's L1. Only fast instances published, so the fast one
    /// served the purged answer from L1 until its TTL.
    @Test func aStrictInstancesPurgeReachesAFastOnesL1() async throws {
        try await withRedisPair(consistency: "strict", consistencyB: "fast") { p in
            p.versioned("/api/users/2")
            _ = try await p.get(p.portA, "/api/users/2")
            #expect(try await p.get(p.portB, "/api/users/2").header("X-Cache") == "HIT")   // in B's L1
            #expect(try await p.send(p.portA, "PUT", "/api/users/2").status == 200)
            #expect(try await eventually(timeout: .seconds(5)) {
                try await p.get(p.portB, "/api/users/2").text == #"{"v":2}"#
            })
        }
    }

    /// Redis out of memory under `noeviction` answers reads but refuses writes: A's purge
    /// is journaled, and B, which confirms (strict) or refills L1 (fast) by reading, served
    /// the purged answer for as long as Redis stayed full. The purging instance now drops
    /// the epochs (DEL is taken under OOM): B's entries are misses from then on, within
    /// `outageGrace` (strict) or on the purge message (fast).
    @Test(arguments: ["strict", "fast"])
    func aPurgeRedisCannotStoreForWantOfMemoryStillReachesTheOthers(consistency: String) async throws {
        try await withRedisPair(consistency: consistency, outageGrace: "1s") { p in
            p.versioned("/api/users/8")
            _ = try await p.get(p.portA, "/api/users/8")
            #expect(try await p.get(p.portB, "/api/users/8").header("X-Cache") == "HIT")   // B's L1 copy
            _ = try await p.redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
            _ = try await p.redis.cli("CONFIG", "SET", "maxmemory", "1")
            defer { Task { _ = try? await p.redis.cli("CONFIG", "SET", "maxmemory", "0") } }
            #expect(try await p.redis.cli("SET", "probe", "x").contains("OOM"), "Redis refuses writes")
            #expect(try await p.send(p.portA, "PUT", "/api/users/8").status == 200)
            let answered = ContinuousClock.now
            #expect(p.logs.all.contains { $0.contains("epochs dropped") }, "\(p.logs.all.filter { $0.contains("journal") })")
            try await Task.sleep(until: answered + .milliseconds(1100))   // past outageGrace
            for _ in 0..<3 {
                let r = try await p.get(p.portB, "/api/users/8")
                #expect(r.status == 200 && r.text == #"{"v":2}"#, "B served the purged answer: \(r.text) \(r.header("Cache-Status") ?? "")")
            }
            _ = try await p.redis.cli("CONFIG", "SET", "maxmemory", "0")
            // Once Redis takes writes again the journal replays and the cache fills anew.
            #expect(try await eventually(timeout: .seconds(10)) {
                _ = try await p.get(p.portB, "/api/users/8")
                return try await p.get(p.portB, "/api/users/8").header("X-Cache") == "HIT"
            })
            #expect(try await p.get(p.portA, "/api/users/8").text == #"{"v":2}"#)
        }
    }

    @Test func corruptValuesInRedisAreMissesServedFromUpstream() async throws {
        try await withRedisPair(memory: "0") { p in
            p.origin.on("GET", "/api/users/3", .json(#"{"id":3}"#))
            _ = try await p.get(p.portA, "/api/users/3")
            let keys = try await p.redis.cli("KEYS", "sidecache:e:*").split(separator: "\n").map(String.init)
            #expect(keys.count == 1)
            for key in keys { try await p.redis.cli("SET", key, "not an entry at all") }
            let r = try await p.get(p.portB, "/api/users/3")
            #expect(r.status == 200 && r.text == #"{"id":3}"#)
            #expect(p.origin.count(path: "/api/users/3") == 2)
            #expect(p.logs.all.contains { $0.contains("undecodable entry") })
        }
    }

    /// SIGKILL mid-traffic: every request still 200, none waits long.
    /// A stalled Redis (stopped, its socket open: nothing fails at once, every command
    /// runs into its timeout) opens the breaker after a few requests, and requests go on
    /// being answered without it; once Redis answers again, hits alone close it (a hit's
    /// check is the probe), and another instance's purges are seen again. The breaker
    /// stayed open under hits, and B's purge went unseen by A. DESIGN: requests "do not
    /// each wait on it": counted, no more than the breaker's three failures and a probe
    /// wait out the Redis timeout (the test-quality audit: the breaker's state alone
    /// passed with every request waiting).
    @Test func aStalledRedisOpensTheBreakerAndRequestsGoOn() async throws {
        try await withRedisPair(timeout: "1s") { p in
            p.versioned("/api/users/4")
            _ = try await p.get(p.portA, "/api/users/4")
            #expect(p.a.redisStatus?.breaker == "closed")
            p.redis.pause()
            var answered = 0
            var waited = 0
            for _ in 0..<8 {
                let start = ContinuousClock.now
                if try await p.get(p.portA, "/api/users/4").status == 200 { answered += 1 }
                if ContinuousClock.now - start >= .milliseconds(800) { waited += 1 }
            }
            #expect(answered == 8)
            #expect(waited <= 4, "\(waited) of 8 requests waited out the Redis timeout")
            #expect(p.a.redisStatus?.breaker == "open", "\(String(describing: p.a.redisStatus))")
            // `/readyz` says L2 is not in use, not just that the breaker is open.
            #expect(p.a.redisStatus?.l2 == "breaker-open" && p.a.redisStatus?.usable == false,
                    "\(String(describing: p.a.redisStatus))")
            p.redis.resume()
            #expect(try await eventually(timeout: .seconds(30)) {
                _ = try await p.get(p.portA, "/api/users/4")
                return p.a.redisStatus?.breaker == "closed"
            }, "\(String(describing: p.a.redisStatus))")
            #expect(p.a.redisStatus?.l2 == "usable")
            #expect(try await p.send(p.portB, "PUT", "/api/users/4").status == 200)
            #expect(try await p.get(p.portA, "/api/users/4").text == #"{"v":2}"#, "A sees B's purge")
        }
    }

    /// A lease asked while Redis stalls times out, and the miss fetches alone; the stalled
    /// Redis still runs the `SET` when it wakes. That lease, held by no one, made every
    /// instance's miss of the key wait its whole bound (30 s here) for a fill that was
    /// over. It is released once Redis answers.
    @Test func aLeaseAskedDuringAStallIsReleasedOnceRedisAnswers() async throws {
        try await withRedisPair(timeout: "100ms") { p in
            p.origin.on("GET", "/api/users/9", .json("{}", headers: [("Cache-Control", "no-store")]))
            _ = try await p.redis.cli("CLIENT", "PAUSE", "1000", "ALL")
            #expect(try await p.get(p.portA, "/api/users/9").status == 200)
            #expect(try await eventually(timeout: .seconds(10)) {
                try await p.redis.cli("KEYS", "*l:*").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }, "the lease the stalled SET left")
            #expect(try await p.get(p.portB, "/api/users/9").status == 200)
            #expect(p.origin.count("GET", path: "/api/users/9") == 2)
        }
    }

    @Test func redisKilledWhileRequestsFlow() async throws {
        try await withRedisPair { p in
            p.origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)"}"#) }
            let clock = ContinuousClock()
            var slowest = Duration.zero
            for i in 0..<200 {
                if i == 50 { p.redis.kill() }
                let port = i % 2 == 0 ? p.portA : p.portB
                let start = clock.now
                let r = try await p.get(port, "/api/users/\(i % 20)")
                slowest = max(slowest, clock.now - start)
                #expect(r.status == 200, "request \(i)")
            }
            // A killed server fails commands at once (connection lost), and the breaker
            // opens after 3 failures: 2 s is a generous bound for "does not stall".
            #expect(slowest < .seconds(2), "slowest request took \(slowest)")
            #expect(p.a.redisStatus?.connected == false)
            // Each Redis failure was reported once, in one place: a store error and a
            // store-error bypass of the shared tier, both in the scrape.
            let scrape = try await adminCall(port: p.a.adminPort!, "GET", "/metrics", token: nil).text
            func value(_ prefix: String, _ label: String) -> Double {
                scrape.split(separator: "\n").filter { $0.hasPrefix(prefix) && $0.contains(label) }
                    .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
            }
            #expect(value("sidecache_store_errors_total{", #"store="redis""#) > 0)
            #expect(value("sidecache_bypass_total{", #"reason="store-error""#) > 0)
        }
    }

    @Test func sharingResumesAfterRedisRestarts() async throws {
        try await withRedisPair(memory: "0") { p in
            p.origin.on("GET", "/api/users/*") { req in .json(#"{"p":"\#(req.path)"}"#) }
            try await p.redis.restart()
            #expect(try await eventually(timeout: .seconds(15)) {
                p.a.redisStatus?.connected == true && p.b.redisStatus?.connected == true
            })
            // The restarted server is empty and the epoch is new: fill on A, hit on B again.
            #expect(try await eventually(timeout: .seconds(10)) {
                _ = try await p.get(p.portA, "/api/users/9")
                return try await p.get(p.portB, "/api/users/9").header("X-Cache") == "HIT"
            })
            // Redis answers again: the last error is history, not a current state.
            #expect(p.a.redisStatus?.lastError == nil && p.b.redisStatus?.lastError == nil)
            let stats = try await adminCall(port: p.a.adminPort!, "GET", "/stats")
            #expect(stats.json["redis"]?["lastError"] == nil)
        }
    }

    /// A purge while Redis is paused is journaled, applied after, and before L2 is read again.
    @Test func purgeDuringClientPauseIsAppliedAfter() async throws {
        try await withRedisPair(memory: "0") { p in
            p.versioned("/api/users/4")
            _ = try await p.get(p.portA, "/api/users/4")
            #expect(try await p.get(p.portB, "/api/users/4").header("X-Cache") == "HIT")
            try await p.redis.cli("CLIENT", "PAUSE", "3000", "ALL")   // well past the 1 s command timeout
            let put = try await p.send(p.portA, "PUT", "/api/users/4")
            #expect(put.status == 200)
            #expect(p.logs.all.contains { $0.contains("purge journaled") }, "the purge should have timed out against the paused server")
            // When Redis answers again, A replays its journal (the event waited for here);
            // from then on B never serves v1 again.
            #expect(try await eventually(timeout: .seconds(20)) {
                p.logs.all.contains { $0.contains("journaled purges replayed") }
            })
            for _ in 0..<5 {
                let r = try await p.get(p.portB, "/api/users/4")
                #expect(r.text == #"{"v":2}"#)
            }
        }
    }

    /// DESIGN: with strict consistency no instance serves a purged answer for longer than
    /// `outageGrace` after the purging mutation was answered, even while Redis is down.
    /// B holds a confirmed L1 copy; Redis stops answering; A's PUT is answered (its purge
    /// journaled). Every read from B sent later than `outageGrace` after that answer gets
    /// the new version, though B never heard of the purge.
    @Test func strictHoldsDuringAnOutageWithinOutageGrace() async throws {
        try await withRedisPair(outageGrace: "1s") { p in
            p.versioned("/api/users/6")
            _ = try await p.get(p.portA, "/api/users/6")
            #expect(try await p.get(p.portB, "/api/users/6").header("X-Cache") == "HIT")   // B's L1 copy, vouched for by Redis
            p.redis.pause()
            defer { p.redis.resume() }
            #expect(try await p.send(p.portA, "PUT", "/api/users/6").status == 200)
            let answered = ContinuousClock.now
            #expect(p.logs.all.contains { $0.contains("purge journaled") })
            try await Task.sleep(until: answered + .milliseconds(1100))
            for _ in 0..<3 {
                let r = try await p.get(p.portB, "/api/users/6")
                #expect(r.status == 200)
                #expect(r.text == #"{"v":2}"#, "B served the purged answer past outageGrace")
                #expect(r.header("X-Cache") == "MISS")
            }
        }
    }

    @Test func authWithPassword() async throws {
        try await withRedisPair(password: "s3cret") { p in
            p.origin.on("GET", "/api/users/5", .json("{}"))
            _ = try await p.get(p.portA, "/api/users/5")
            #expect(try await p.get(p.portB, "/api/users/5").header("X-Cache") == "HIT")
            #expect(p.origin.count(path: "/api/users/5") == 1)
        }
    }

    @Test func wrongPasswordIsLoggedAndTheProxyStillServes() async throws {
        let redis = try await RedisServer.start(password: "right")
        defer { Task { await redis.stop() } }
        try await withRedisPair(redisURL: "redis://:wrong@127.0.0.1:\(redis.port)/0", waitReady: false) { p in
            p.origin.on("GET", "/api/users/6", .json("{}"))
            for _ in 0..<3 {
                let r = try await p.get(p.portA, "/api/users/6")
                #expect(r.status == 200)
            }
            let logged = try await eventually {
                p.logs.all.contains { line in
                    line.contains("redis connect failed") && (line.contains("WRONGPASS") || line.contains("invalid password"))
                }
            }
            #expect(logged, "\(p.logs.all)")
        }
    }

    @Test func identityValuesNeverAppearInRedisKeys() async throws {
        try await withRedisPair { p in
            p.origin.on("GET", "/api/me") { req in .text(req.header("Authorization") ?? "") }
            _ = try await p.get(p.portA, "/api/me", headers: [("Authorization", "Bearer TOKEN-abc123")])
            #expect(try await p.get(p.portB, "/api/me", headers: [("Authorization", "Bearer TOKEN-abc123")]).header("X-Cache") == "HIT")
            let keys = try await p.redis.cli("KEYS", "*")
            #expect(!keys.isEmpty)
            #expect(!keys.contains("TOKEN"))
            #expect(!keys.contains("/api/me"))
            let other = try await p.get(p.portB, "/api/me", headers: [("Authorization", "Bearer someone-else")])
            #expect(other.text == "Bearer someone-else")
        }
    }

    /// DESIGN: an identity value is hashed, never stored in clear: not in a key, and not
    /// in any value Redis holds either (entries, counters, leases, sets). The origin does
    /// not echo the credential here, so finding it could only mean the proxy wrote it.
    /// (The test-quality audit: key names alone were checked.)
    @Test func identityValuesNeverAppearInRedisValues() async throws {
        try await withRedisPair { p in
            p.origin.on("GET", "/api/me", .text("body-marker-7731"))
            _ = try await p.get(p.portA, "/api/me", headers: [("Authorization", "Bearer TOKEN-abc123")])
            #expect(try await p.get(p.portB, "/api/me", headers: [("Authorization", "Bearer TOKEN-abc123")]).header("X-Cache") == "HIT")
            let keys = try await p.redis.cli("KEYS", "*").split(separator: "\n").map(String.init).filter { !$0.isEmpty }
            #expect(!keys.isEmpty)
            var held = ""
            for key in keys {
                let type = try await p.redis.cli("TYPE", key).trimmingCharacters(in: .whitespacesAndNewlines)
                let read: [String] = switch type {
                case "string": ["GET", key]
                case "hash": ["HGETALL", key]
                case "set": ["SMEMBERS", key]
                case "zset": ["ZRANGE", key, "0", "-1", "WITHSCORES"]
                case "list": ["LRANGE", key, "0", "-1"]
                default: ["DUMP", key]
                }
                held += try await p.redis.cli(read)
            }
            #expect(held.contains("body-marker-7731"), "the entry's body was read: the values are really there")
            #expect(!held.contains("TOKEN-abc123") && !held.contains("TOKEN"), "the credential in clear in a Redis value")
        }
    }

    /// Tags are known only when the answer arrives; their counters still guard the
    /// shared entry, so a tag purge on A is seen by B.
    @Test func tagPurgeIsSharedAcrossInstances() async throws {
        try await withRedisPair { p in
            p.origin.on("GET", "/api/users/7", .json("{}", headers: [("Surrogate-Key", "user-7 users")]))
            _ = try await p.get(p.portA, "/api/users/7")
            #expect(try await p.get(p.portB, "/api/users/7").header("X-Cache") == "HIT")
            let scopes: [PurgeScope] = [.tag("user-7")]
            if case .later(let shared) = p.a.engine.purge(scopes, reason: "test", source: .admin,
                                                          on: MultiThreadedEventLoopGroup.singleton.next()) {
                try await shared.get()
            }
            #expect(try await p.get(p.portB, "/api/users/7").header("X-Cache") == "MISS")
        }
    }
}
