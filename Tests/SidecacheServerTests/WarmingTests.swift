import Foundation
import Logging
import SidecacheConfig
@testable import SidecacheServer
import SidecacheTestSupport
import Synchronization
import Testing

@Suite("Warming: fetched at start and on schedule, without client traffic")
struct WarmingTests {
    static let routes = #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }]"#

    /// Warming runs on `clock`, which the test moves: a schedule advances only when told.
    private func withWarmServer(warm: String, _ body: (ProxyServer, ScriptedOrigin, LogCapture, TestClock) async throws -> Void)
        async throws {
        let origin = try await ScriptedOrigin.start()
        let logs = LogCapture()
        let clock = TestClock()
        let config = try ConfigLoader.parse(Data("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "routes": \(Self.routes), "warm": \(warm) }
        """.utf8), environment: [:])
        let server = try ProxyServer(config: config, scheduleClock: clock, logger: logs.logger)
        try await stopping(server, origin) { try await body(server, origin, logs, clock) }
    }

    @Test func warmPathsAreFetchedAtStartAndAgainWhileFresh() async throws {
        try await withWarmServer(warm: #"[{ "path": "/api/users/1?full=1", "every": "1s" }]"#) { server, origin, _, clock in
            origin.on("GET", "/api/users/1", .json("{}"))
            try await server.start()
            #expect(try await eventually { origin.count(path: "/api/users/1") == 1 && clock.sleeping == 1 })
            // The entry (5 min ttl) is still fresh: it is fetched again all the same, once a period has passed.
            clock.advance(by: .milliseconds(1100))   // past the period and its +10 % jitter
            #expect(try await eventually { origin.count(path: "/api/users/1") == 2 && clock.sleeping == 1 })
            #expect(origin.requests.allSatisfy { $0.uri == "/api/users/1?full=1" })
            // Stored under the Host warming uses (the upstream's authority): a client naming it hits.
            let hit = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/1?full=1",
                                                       headers: [("Host", "127.0.0.1:\(origin.port)")])
            #expect(hit.header("X-Cache") == "HIT")
        }
    }

    /// With `host`, the warmed entry is the one clients naming that Host hit.
    @Test func warmHostIsTheHostClientsSend() async throws {
        try await withWarmServer(warm: #"[{ "path": "/api/users/4", "every": "1h", "host": "api.example" }]"#) { server, origin, _, _ in
            origin.on("GET", "/api/users/4", .json("{}"))
            try await server.start()
            #expect(try await eventually { origin.count(path: "/api/users/4") >= 1 })
            #expect(origin.requests.first?.header("Host") == "api.example")
            let hit = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/4", headers: [("Host", "api.example")])
            #expect(hit.header("X-Cache") == "HIT")
            #expect(origin.count(path: "/api/users/4") == 1)
        }
    }

    @Test func failuresAreLoggedAndTheScheduleGoesOn() async throws {
        try await withWarmServer(warm: #"[{ "path": "/api/users/2", "every": "1s" }]"#) { server, origin, logs, clock in
            origin.on("GET", "/api/users/2", .text("down", status: 500))
            try await server.start()
            #expect(try await eventually { origin.count(path: "/api/users/2") == 1 && clock.sleeping == 1 })
            clock.advance(by: .milliseconds(1100))
            #expect(try await eventually { origin.count(path: "/api/users/2") == 2 })
            #expect(logs.all.contains { $0.contains("warming failed") && $0.contains("/api/users/2") && $0.contains("500") })
            #expect(try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/9").status == 404)   // still serving
        }
    }

    /// README: a failed warm fetch is tried again "after at most 30 s", whatever its
    /// period. Eight paths warmed hourly, all failing: 30 s on, every one was asked again.
    /// (The README audit: only a 1 s period was tried, which retries sooner anyway; and
    /// the ±10 % jitter took the retry to 33 s, so about half of them were not.)
    @Test func aFailedWarmIsTriedAgainWithinThirtySeconds() async throws {
        let paths = (1...8).map { "/api/users/\(20 + $0)" }
        let warm = "[" + paths.map { #"{ "path": "\#($0)", "every": "1h" }"# }.joined(separator: ", ") + "]"
        try await withWarmServer(warm: warm) { server, origin, _, clock in
            for path in paths { origin.on("GET", path, .text("down", status: 500)) }
            try await server.start()
            #expect(try await eventually { paths.allSatisfy { origin.count(path: $0) == 1 } && clock.sleeping == 8 })
            clock.advance(by: .seconds(30))
            #expect(try await eventually { paths.allSatisfy { origin.count(path: $0) == 2 } },
                    "asked again: \(paths.map { origin.count(path: $0) })")
        }
    }

    /// The warm audit's: an answer kept out of the cache (`no-store` here) counted as
    /// warmed, so a warm list that warmed nothing looked healthy. It is now a warning
    /// naming why; the next try waits the whole period, not a failure's 30 s (the
    /// upstream will say the same). A stored answer is no warning, at start or later.
    @Test func anAnswerNotStoredIsReportedAndAwaitsThePeriod() async throws {
        try await withWarmServer(warm: #"[{ "path": "/api/users/5", "every": "1h" }, { "path": "/api/users/6", "every": "1s" }]"#) {
            server, origin, logs, clock in
            origin.on("GET", "/api/users/5", .json("{}", headers: [("Cache-Control", "no-store")]))
            origin.on("GET", "/api/users/6", .json("{}"))
            try await server.start()
            #expect(try await eventually { clock.sleeping == 2 && origin.count(path: "/api/users/6") == 1 })
            let warned = logs.all.filter { $0.contains("warm answer not stored") }
            #expect(warned.count == 1)
            #expect(warned.allSatisfy { $0.contains("/api/users/5") && $0.contains("detail=no-store") })
            #expect(try #require(clock.deadlines.last) > clock.now.advanced(by: .seconds(50 * 60)))
            clock.advance(by: .milliseconds(1100))
            #expect(try await eventually { origin.count(path: "/api/users/6") == 2 && clock.sleeping == 2 })
            #expect(logs.all.filter { $0.contains("warm answer not stored") }.count == 1)
        }
    }

    /// The review's: a 404 a duration route stores warned "warming failed" every 30 s,
    /// and the upstream's own 409 (taken for the proxy's "refresh under way") counted as
    /// warmed though nothing was stored. The answer's `Cache-Status` decides.
    @Test func aStored404IsWarmedAndAnUpstream409IsNot() async throws {
        try await withWarmServer(warm: #"[{ "path": "/api/users/7", "every": "1h" }, { "path": "/api/users/8", "every": "1h" }]"#) {
            server, origin, logs, clock in
            origin.on("GET", "/api/users/7", .json("{}", status: 404))
            origin.on("GET", "/api/users/8", .json("{}", status: 409))
            try await server.start()
            #expect(try await eventually { clock.sleeping == 2 })
            let warnings = logs.all.filter { $0.contains("warming failed") || $0.contains("not stored") }
            #expect(warnings.count == 1 && warnings.allSatisfy { $0.contains("/api/users/8") && $0.contains("409") }, "\(warnings)")
            let hit = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/7",
                                                       headers: [("Host", "127.0.0.1:\(origin.port)")])
            #expect(hit.status == 404 && hit.header("X-Cache") == "HIT")
        }
    }

    @Test func aReloadThatDropsTheTargetStopsIt() async throws {
        try await withWarmServer(warm: #"[{ "path": "/api/users/3", "every": "1s" }]"#) { server, origin, _, clock in
            origin.on("GET", "/api/users/3", .json("{}"))
            try await server.start()
            #expect(try await eventually { origin.count(path: "/api/users/3") == 1 && clock.sleeping == 1 })
            let next = try ConfigLoader.parse(Data("""
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "routes": \(Self.routes) }
            """.utf8), environment: [:])
            #expect(await server.reload(config: next) == .applied(generation: 2, needsRestart: []))
            // The schedule was cancelled: nobody sleeps on the clock, so no period can bring another fetch.
            #expect(try await eventually { clock.sleeping == 0 })
            clock.advance(by: .seconds(10))
            #expect(origin.count(path: "/api/users/3") == 1)
        }
    }

    /// The warm audit's: 1 500 targets fetched at once opened a connection each and ran
    /// the process out of descriptors. At most `maxFetching` fetch at a time; the others
    /// wait their turn and all are fetched.
    @Test func aLongListFetchesAFewAtATime() async throws {
        let targets = try (0..<60).map { i in
            try #require(ConfigLoader.parse(Data("""
            { "upstream": "http://127.0.0.1:1", "routes": \(Self.routes), "warm": [{ "path": "/api/users/\(i)", "every": "1h" }] }
            """.utf8), environment: [:]).warm.first)
        }
        let state = Mutex((running: 0, maxRunning: 0, runs: 0))
        let fetchClock = TestClock()
        let warmer = Warmer(fetch: { _ in
            state.withLock { $0.running += 1; $0.maxRunning = max($0.maxRunning, $0.running) }
            try? await fetchClock.sleep(until: fetchClock.now.advanced(by: .seconds(1)))
            state.withLock { $0.running -= 1; $0.runs += 1 }
        }, clock: TestClock(), jitter: { 1 }, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        warmer.run(targets)
        var completed = 0
        while completed < targets.count {
            let (batch, done) = (min(Warmer.maxFetching, targets.count - completed), completed)
            #expect(try await eventually { fetchClock.sleeping == batch && state.withLock { $0.runs } == done })
            fetchClock.advance(by: .seconds(1))
            completed += batch
        }
        #expect(try await eventually { state.withLock { $0.runs } == targets.count })
        warmer.stop()
        #expect(state.withLock { $0.maxRunning } == Warmer.maxFetching)
    }

    /// The review's: targets a reload drops while they wait for the gate fetch nothing.
    /// Each ran its fetch when its turn came, ahead of the new targets.
    @Test func targetsDroppedWhileQueuedFetchNothing() async throws {
        let targets = try (0...20).map { i in
            try #require(ConfigLoader.parse(Data("""
            { "upstream": "http://127.0.0.1:1", "routes": \(Self.routes), "warm": [{ "path": "/api/users/\(i)", "every": "1h" }] }
            """.utf8), environment: [:]).warm.first)
        }
        let fetched = Mutex<[String]>([])
        let fetchClock = TestClock()
        let warmer = Warmer(fetch: { target in
            fetched.withLock { $0.append(target.path) }
            try? await fetchClock.sleep(until: fetchClock.now.advanced(by: .seconds(1)))
        }, clock: TestClock(), jitter: { 1 }, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        warmer.run(Array(targets.dropLast()))
        #expect(try await eventually { fetchClock.sleeping == Warmer.maxFetching })
        // The reload: the 20 are dropped, a new one added. It queues behind the 4 dropped
        // ones, so when it is fetched they have had their turn.
        warmer.run([targets.last!])
        fetchClock.advance(by: .seconds(1))
        #expect(try await eventually { fetched.withLock { $0.last } == "/api/users/20" })
        #expect(fetched.withLock { $0.count } == Warmer.maxFetching + 1, "the 4 queued were dropped: \(fetched.withLock { $0 })")
        warmer.stop()
    }

    /// The scheduler alone, with time compressed by the jitter hook (every 1 s × 0.02).
    @Test func aTargetNeverOverlapsItself() async throws {
        let target = try #require(ConfigLoader.parse(Data("""
        { "upstream": "http://127.0.0.1:1", "routes": \(Self.routes), "warm": [{ "path": "/api/users/1", "every": "1s" }] }
        """.utf8), environment: [:]).warm.first)
        let state = Mutex((running: 0, maxRunning: 0, runs: 0))
        let clock = TestClock()
        let fetchClock = TestClock()   // the fetch's own duration, moved separately
        let warmer = Warmer(fetch: { _ in
            state.withLock { $0.running += 1; $0.maxRunning = max($0.maxRunning, $0.running) }
            try? await fetchClock.sleep(until: fetchClock.now.advanced(by: .seconds(3)))   // slower than the 1 s period
            state.withLock { $0.running -= 1; $0.runs += 1 }
        }, clock: clock, jitter: { 1 }, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        warmer.run([target])
        warmer.run([target])   // the same target again: the schedule is kept, not doubled
        for run in 1...4 {
            #expect(try await eventually { fetchClock.sleeping == 1 })   // a fetch is under way
            clock.advance(by: .seconds(2))                               // its period passes meanwhile
            #expect(state.withLock { $0.running } == 1)
            fetchClock.advance(by: .seconds(3))                          // the fetch ends
            #expect(try await eventually { state.withLock { $0.runs } == run })
        }
        warmer.stop()
        #expect(state.withLock { $0.maxRunning } == 1)
    }
}
