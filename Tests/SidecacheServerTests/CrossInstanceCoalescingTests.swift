import Foundation
import Logging
import SidecacheConfig
import SidecacheCore
@testable import SidecacheMetrics
@testable import SidecacheServer
import SidecacheTestSupport
import Synchronization
import Testing

/// DESIGN "Beyond purge rules", cross-instance coalescing: with Redis, one upstream fetch
/// per key across all instances. The instance that takes the key's lease fetches; the
/// others wait for its announcement and read the entry from Redis, or fetch on their
/// own if the leader's answer was not stored or its lease ran out.
@Suite("Cross-instance coalescing", .serialized)
struct CrossInstanceCoalescingTests {
    static func routes(timeout: String) -> String {
        #"[ { "name": "cold", "match": "GET /api/cold/{id}", "ttl": "5m", "upstreamTimeout": "\#(timeout)" } ]"#
    }

    /// `count` instances (one event loop each) sharing one real redis-server.
    static func withFleet(_ count: Int, timeout: String = "30s",
                          _ body: (ScriptedOrigin, RedisServer, [ProxyServer]) async throws -> Void) async throws {
        let origin = try await ScriptedOrigin.start()
        let redis = try await RedisServer.start()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        var fleet: [ProxyServer] = []
        do {
            for _ in 0..<count {
                let config = try ConfigLoader.parse(Data("""
                { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "threads": 1,
                  "store": { "memory": "16MiB", "redis": "\(redis.url)", "timeout": "1s" },
                  "routes": \(routes(timeout: timeout)) }
                """.utf8), environment: [:])
                let proxy = try ProxyServer(config: config, logger: logger)
                try await proxy.start()
                fleet.append(proxy)
            }
            let started = fleet
            #expect(try await eventually(timeout: .seconds(20)) { started.allSatisfy(\.redisReady) }, "every instance ready on Redis")
            try await body(origin, redis, started)
        } catch {
            for proxy in fleet { await proxy.shutdown(grace: .seconds(1)) }
            await redis.stop()
            try? await origin.shutdown()
            throw error
        }
        for proxy in fleet { await proxy.shutdown(grace: .seconds(1)) }
        await redis.stop()
        try? await origin.shutdown()
    }

    static func get(_ proxy: ProxyServer, _ path: String) async throws -> TestResponse {
        try await TestHTTPClient.request(port: proxy.port!, "GET", path, headers: [("Host", "api.example")])
    }

    static func waiting(_ fleet: [ProxyServer]) -> Int {
        fleet.reduce(0) { $0 + $1.engine.metrics.routes.stats(for: "cold").coalescedCount }
    }

    /// A thundering herd on a cold key across 20 instances reaches the upstream once.
    @Test func twentyInstancesMissingOneKeyMakeOneUpstreamRequest() async throws {
        try await Self.withFleet(20) { origin, _, fleet in
            let gate = CoalescingTests.Gate()
            origin.on("GET", "/api/cold/1") { _ in await gate.wait(); return .json(#"{"id":1}"#) }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for proxy in fleet { group.addTask { try await Self.get(proxy, "/api/cold/1") } }
                // One instance fetches, nineteen wait on it (an event each, not a time).
                #expect(try await eventually(timeout: .seconds(20)) { origin.count(path: "/api/cold/1") == 1 && Self.waiting(fleet) == 19 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 20)
            #expect(answers.allSatisfy { $0.status == 200 && $0.text == #"{"id":1}"# })
            #expect(origin.count(path: "/api/cold/1") == 1)
            #expect(answers.filter { $0.header("X-Cache") == "MISS" }.count == 1)
        }
    }

    /// The leader's answer is not storable: the waiters hear it at once (well inside
    /// their 30 s bound) and fetch on their own.
    @Test func whenTheLeadersAnswerIsNotStoredTheOthersFetchAtOnce() async throws {
        try await Self.withFleet(3) { origin, _, fleet in
            let gate = CoalescingTests.Gate()
            let served = Mutex(0)
            origin.on("GET", "/api/cold/2") { _ in
                if served.withLock({ $0 += 1; return $0 }) == 1 { await gate.wait() }
                return .json("{}", headers: [("Cache-Control", "no-store")])
            }
            let started = ContinuousClock.now
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for proxy in fleet { group.addTask { try await Self.get(proxy, "/api/cold/2") } }
                #expect(try await eventually(timeout: .seconds(20)) { Self.waiting(fleet) == 2 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == 200 })
            #expect(origin.count(path: "/api/cold/2") == 3)
            #expect(ContinuousClock.now - started < .seconds(15), "woken by the announcement, not by the 30 s bound")
        }
    }

    /// DESIGN: a request that arrives after a purge never waits on a fetch that started
    /// before it. Across instances the wait is on the fetcher's lease, which says what
    /// its holder knew of the purges: one taken before a purge this instance has seen is
    /// no reason to wait (the warm/refresh audit's: a read after a write waited for the
    /// doomed fetch, up to `upstreamTimeout`).
    @Test func aLeaseTakenBeforeAPurgeIsNoReasonToWait() async throws {
        try await Self.withFleet(2) { origin, _, fleet in
            let gate = CoalescingTests.Gate()
            let served = Mutex(0)
            origin.on("GET", "/api/cold/4") { _ in
                let n = served.withLock { $0 += 1; return $0 }
                if n == 1 { await gate.wait() }
                return .json(#"{"v":\#(n)}"#)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await Self.get(fleet[0], "/api/cold/4") }
                #expect(try await eventually(timeout: .seconds(20)) { origin.count(path: "/api/cold/4") == 1 })
                if case .later(let done) = fleet[0].engine.purge([.path("/api/cold/4")], reason: "test", source: .admin,
                                                               on: fleet[0].eventLoops.next()) {
                    try await done.get()
                }
                let after = try await Self.get(fleet[1], "/api/cold/4")
                #expect(after.status == 200 && after.text == #"{"v":2}"#, "fetched at once, not after the pre-purge fetch")
                #expect(Self.waiting(fleet) == 0)
                gate.release()
                try await group.waitForAll()
            }
        }
    }

    /// A Redis that reads but refuses writes (`min-replicas-to-write` unmet, a full disk,
    /// `maxmemory` under `noeviction`) answers the lease's `SET NX` with an error: Redis
    /// cannot tell who fetches, so this instance fetches as if alone. The error counted as
    /// "held elsewhere", and every miss waited its whole bound for a notice no one sent.
    @Test func aLeaseRefusedWithAnErrorIsNoReasonToWait() async throws {
        try await Self.withFleet(1, timeout: "5s") { origin, redis, fleet in
            origin.on("GET", "/api/cold/9", .json(#"{"id":9}"#))
            #expect(try await redis.cli("CONFIG", "SET", "min-replicas-to-write", "1") == "OK")
            let answer = try await Self.get(fleet[0], "/api/cold/9")
            #expect(answer.status == 200 && answer.text == #"{"id":9}"#)
            #expect(Self.waiting(fleet) == 0, "no wait on a lease Redis refused")
            _ = try await redis.cli("CONFIG", "SET", "min-replicas-to-write", "0")
        }
    }

    /// A lease whose holder died (set here by hand, never released) holds the others
    /// back at most their bound; then they fetch.
    @Test func aLeaseNobodyReleasesOnlyDelaysUntilTheBound() async throws {
        try await Self.withFleet(1, timeout: "2s") { origin, redis, fleet in
            origin.on("GET", "/api/cold/3", .json(#"{"id":3}"#))
            let config = try ConfigLoader.parse(Data("""
            { "upstream": "http://127.0.0.1:1", "routes": \(Self.routes(timeout: "2s")) }
            """.utf8), environment: [:])
            let route = try #require(config.routes.route(named: "cold"))
            let key = CacheKeyBuilder.key(route: route, host: "api.example", target: try #require(RequestTarget("/api/cold/3")),
                                          headers: HeaderList(), identity: nil)
            #expect(try await redis.cli("SET", "sidecache:l:\(key)", "dead-instance", "PX", "60000") == "OK")
            let answer = try await Self.get(fleet[0], "/api/cold/3")
            #expect(answer.status == 200 && answer.text == #"{"id":3}"#)
            #expect(origin.count(path: "/api/cold/3") == 1)
            #expect(Self.waiting(fleet) == 1, "it did wait for the lease holder first")
        }
    }

    /// Instance 0 fetching `path` (held at the origin until the gate opens), instance 1
    /// waiting on its fill.
    static func waitingOnAPeer(_ origin: ScriptedOrigin, _ fleet: [ProxyServer], _ path: String) async throws
        -> (gate: CoalescingTests.Gate, leader: Task<TestResponse, any Error>, waiter: Task<TestResponse, any Error>) {
        let gate = CoalescingTests.Gate()
        origin.on("GET", path) { _ in await gate.wait(); return .json(#"{"id":1}"#) }
        let leader = Task { try await get(fleet[0], path) }
        #expect(try await eventually(timeout: .seconds(20)) { origin.count(path: path) == 1 })
        let waiter = Task { try await get(fleet[1], path) }
        #expect(try await eventually(timeout: .seconds(20)) { waiting(fleet) == 1 })
        return (gate, leader, waiter)
    }

    /// The coalescing audit's: with Redis paused, an instance waiting on another's fill
    /// heard no announcement and waited its whole bound (30 s here) before fetching.
    /// Its breaker opening, on other requests' Redis timeouts, ends the wait.
    @Test func aRedisThatStopsAnsweringEndsTheWaitsOnOthersFills() async throws {
        try await Self.withFleet(2) { origin, redis, fleet in
            origin.on("GET", "/api/cold/8", .json(#"{"id":8}"#))
            let (gate, leader, waiter) = try await Self.waitingOnAPeer(origin, fleet, "/api/cold/7")
            redis.pause()
            defer { redis.resume() }
            // Three lookups time out (the store's 1 s) and open the breaker.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { _ = try await Self.get(fleet[1], "/api/cold/8") } }
                try await group.waitForAll()
            }
            // Woken, the waiter fetches on its own well before its 30 s bound.
            #expect(try await eventually(timeout: .seconds(10)) { origin.count(path: "/api/cold/7") == 2 })
            gate.release()
            #expect(try await waiter.value.status == 200)
            #expect(try await leader.value.status == 200)
        }
    }

    /// The same on an instance with no other traffic to open its breaker: the fill
    /// channel's subscription, unanswered, ends the waits (the review's: the waiter sat
    /// out its whole bound).
    @Test func aRedisThatStopsAnsweringEndsTheWaitsOfAQuietInstance() async throws {
        try await Self.withFleet(2, timeout: "60s") { (origin: ScriptedOrigin, redis: RedisServer, fleet: [ProxyServer]) async throws in
            let (gate, leader, waiter) = try await Self.waitingOnAPeer(origin, fleet, "/api/cold/9")
            redis.pause()
            defer { redis.resume() }
            // The subscription's probe notices within 10 s; the wait's bound is 60 s.
            #expect(try await eventually(timeout: .seconds(40)) { origin.count(path: "/api/cold/9") == 2 })
            gate.release()
            #expect(try await waiter.value.status == 200)
            #expect(try await leader.value.status == 200)
        }
    }
}
