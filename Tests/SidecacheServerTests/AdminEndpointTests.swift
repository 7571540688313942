import Foundation
import Logging
import SidecacheConfig
import SidecacheCore
import SidecacheServer
import SidecacheTestSupport
import Testing

@Suite("Admin API: listener, auth, probes, stats")
struct AdminEndpointTests {
    static let routes = #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }]"#

    @Test func probesAndMetricsNeedNoToken() async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            let health = try await h.admin("GET", "/healthz", token: nil)
            #expect(health.status == 200)
            #expect(health.header("Date").flatMap(HTTPDate.parse) != nil, "the admin listener dates its answers (RFC 9110 §6.6.1)")
            let ready = try await h.admin("GET", "/readyz", token: nil)
            #expect(ready.status == 200)
            #expect(ready.text == #"{"ready":true,"redis":{"configured":false},"config":1}"# + "\n")
            #expect(ready.header("Content-Type") == "application/json")
            let metrics = try await h.admin("GET", "/metrics", token: nil)
            #expect(metrics.status == 200)
            #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains("sidecache_l1_entries"))
        }
    }

    /// README: admin answers carry `Cache-Control: no-store` (stats, purge scopes, a
    /// refresh's body and errors are for this caller, never for a cache in between).
    /// (The README audit: no test asked.)
    @Test func adminAnswersAreNeverStoredOnTheWay() async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            let answers = [
                try await h.admin("GET", "/stats"),
                try await h.admin("POST", "/purge", json: #"{"path": "/api/users/1"}"#),
                try await h.admin("GET", "/stats", token: nil),
                try await h.admin("GET", "/readyz", token: nil),
                try await h.admin("GET", "/nowhere"),
            ]
            #expect(answers.map(\.status) == [200, 200, 401, 200, 404])
            for answer in answers { #expect(answer.header("Cache-Control") == "no-store", "\(answer.status) \(answer.text)") }
        }
    }

    @Test(arguments: [("GET", "/stats"), ("POST", "/purge"), ("POST", "/refresh"), ("GET", "/nowhere")])
    func everyOtherCallNeedsTheToken(method: String, path: String) async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            for token: String? in [nil, "wrong", String(adminToken.dropLast()), adminToken + "x"] {
                let r = try await h.admin(method, path, token: token, json: #"{"all": true}"#)
                #expect(r.status == 401, "\(token ?? "no token")")
                #expect(r.json["error"] == .string("unauthorized"))
                #expect(r.header("WWW-Authenticate") == "Bearer")
            }
            // Not the bearer scheme, right secret: still refused.
            let basic = try await TestHTTPClient.request(port: h.proxy.adminPort!, method, path,
                                                         headers: [("Authorization", adminToken)])
            #expect(basic.status == 401)
        }
    }

    /// The token is read once a request is whole, so what an unauthenticated peer can
    /// hold is bounded: a request must end within `limits.headerTimeout`, a connection
    /// may idle `limits.idleTimeout`, and at most 64 are open at once. A half-sent POST
    /// held its connection, its task and up to 64 KiB of buffer for good, as many times
    /// as the peer liked: descriptors and memory every proxy client needs.
    @Test func anUnfinishedOrIdleAdminConnectionIsClosed() async throws {
        let extra = adminJSON + #", "limits": { "headerTimeout": "1s", "idleTimeout": "2s" }"#
        try await withProxy(routes: Self.routes, extra: extra) { h in
            let port = h.proxy.adminPort!
            let partial = try await RawConnection.connect(port: port)
            try await partial.send("POST /purge HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 1000))
            let idle = try await RawConnection.connect(port: port)
            let (_, partialClosed) = try await partial.readUntilClose(timeout: .seconds(20))
            #expect(partialClosed, "a request that does not end is cut off")
            let (_, idleClosed) = try await idle.readUntilClose(timeout: .seconds(20))
            #expect(idleClosed, "a connection that sends nothing is cut off")
            #expect(try await h.admin("GET", "/stats").status == 200, "the listener still answers")
        }
    }

    /// The request bound ends with the request: answering may take longer (a refresh
    /// waits on the upstream). The timer ran through the answer, and a refresh slower
    /// than `headerTimeout` lost its connection, counted against `refreshLimit` all the same.
    @Test func aSlowAnswerIsNotCutByTheRequestBound() async throws {
        let extra = adminJSON + #", "limits": { "headerTimeout": "1s", "idleTimeout": "30s" }"#
        try await withProxy(routes: Self.routes, extra: extra) { h in
            h.origin.on("GET", "/api/users/1", OriginResponse.json("{}").delayed(.seconds(2)))
            let refreshed = try await h.admin("POST", "/refresh", json: #"{"path": "/api/users/1", "host": "api.example"}"#)
            #expect(refreshed.status == 200)
        }
    }

    /// The cap tests' admin, its request and idle bounds beyond any run, so that only
    /// eviction closes a connection: with the default 10 s request bound a starved run
    /// (64 connections opened over more than 10 s) saw every half-sent request cut by its
    /// own timer, the probe admitted below the cap, and 64 closed where one made way.
    private static let onlyEvictionCloses = adminJSON + #", "limits": { "headerTimeout": "5m", "idleTimeout": "5m" }"#

    @Test func atMost64AdminConnectionsAreOpen() async throws {
        try await withProxy(routes: Self.routes, extra: Self.onlyEvictionCloses) { h in
            var held: [RawConnection] = []
            for _ in 0..<65 { held.append(try await RawConnection.connect(port: h.proxy.adminPort!)) }
            let all = held
            #expect(try await eventually(timeout: .seconds(20)) { all.filter(\.isClosed).count == 1 },
                    "one of 65 connections is closed at once (the one that waited longest)")
            for c in held { try? await c.close() }
            #expect(try await eventually { (try? await h.admin("GET", "/stats").status) == 200 }, "answered again once they went")
        }
    }

    /// 64 connections that send nothing, or half a head, held the listener for a minute
    /// each, and every probe in between was closed unanswered.
    @Test func silentConnectionsAtTheCapMakeWayForARequest() async throws {
        try await withProxy(routes: Self.routes, extra: Self.onlyEvictionCloses) { h in
            var held: [RawConnection] = []
            for i in 0..<64 {
                let c = try await RawConnection.connect(port: h.proxy.adminPort!)
                if i.isMultiple(of: 2) { try await c.send("GET /stats HTTP/1.1\r\nHost: a\r\n") }
                held.append(c)
            }
            let all = held
            for round in 1...3 {
                let stats = try await h.admin("GET", "/stats")
                #expect(stats.status == 200, "probe \(round) at the cap")
                // Each probe takes at most one waiting connection's place: none when the one
                // an earlier probe left is free again, one when that probe's connection is
                // still being closed as it arrives (a fresh clone's run met that race).
                #expect(try await eventually { (1...round).contains(all.filter(\.isClosed).count) },
                        "one waiting connection made way for each probe at most")
            }
            for c in held { try? await c.close() }
        }
    }

    /// The same for 64 connections that sent a head and a byte of the body it announced:
    /// a request under way was never evicted, so /readyz went unanswered until their
    /// request bound ran out, and a client reconnecting held it down for good.
    @Test func halfSentBodiesAtTheCapMakeWayForAProbe() async throws {
        try await withProxy(routes: Self.routes, extra: Self.onlyEvictionCloses) { h in
            var held: [RawConnection] = []
            for _ in 0..<64 {
                let c = try await RawConnection.connect(port: h.proxy.adminPort!)
                try await c.send("POST /purge HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n{")
                held.append(c)
            }
            let all = held
            // Their heads read (nothing outside tells when): a probe sooner would find some
            // still waiting, evictable under the old rule too, and prove nothing.
            try await Task.sleep(for: .milliseconds(500))
            let ready = try await h.admin("GET", "/readyz", token: nil)
            #expect(ready.status == 200, "the probe at the cap")
            #expect(try await eventually { all.filter(\.isClosed).count == 1 }, "one half-sent request made way")
            for c in held { try? await c.close() }
        }
    }

    @Test func theRightTokenIsAccepted() async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            #expect(try await h.admin("GET", "/stats").status == 200)
            let missing = try await h.admin("GET", "/nowhere")
            #expect(missing.status == 404 && missing.json["error"] == .string("not_found"))
            let wrongMethod = try await h.admin("GET", "/purge")
            #expect(wrongMethod.status == 405 && wrongMethod.header("Allow") == "POST")
        }
    }

    @Test func loopbackListenerWithoutATokenAcceptsCalls() async throws {
        try await withProxy(routes: Self.routes, extra: #""admin": { "listen": "127.0.0.1:0" }"#) { h in
            let stats = try await h.admin("GET", "/stats", token: nil)
            #expect(stats.status == 200)
        }
    }

    @Test func noAdminKeyNoListener() async throws {
        try await withProxy(routes: Self.routes) { h in
            #expect(h.proxy.adminPort == nil)
        }
    }

    @Test func readyzTurns503WhileDraining() async throws {
        let h = try await ProxyHarness.start(routes: Self.routes, extra: adminJSON)
        do {
            // The answer is held until the probes were checked: the drain cannot end first.
            let gate = CoalescingTests.Gate()
            h.origin.on("GET", "/slow") { _ in await gate.wait(); return .text("done") }
            let adminPort = h.proxy.adminPort!
            async let inFlight = h.get("/slow")
            #expect(try await eventually { h.origin.count(path: "/slow") == 1 })
            async let drained: Void = h.proxy.shutdown(grace: .seconds(30))
            #expect(try await eventually {
                (try? await adminCall(port: adminPort, "GET", "/readyz", token: nil))?.status == 503
            })
            let ready = try await adminCall(port: adminPort, "GET", "/readyz", token: nil)
            #expect(ready.json["ready"] == .bool(false))
            #expect(try await adminCall(port: adminPort, "GET", "/healthz", token: nil).status == 200)
            gate.release()
            #expect(try await inFlight.text == "done")
            await drained
        }
        try? await h.origin.shutdown()
    }

    /// A fill whose client the drain's deadline cuts is cancelled there, not run on to
    /// store: the drain waits on what runs on (for a mutation's purge to follow its
    /// write), and a slow GET alone held the exit one more grace (the review's).
    @Test func aFillTheDrainCutsIsNotRunOn() async throws {
        let h = try await ProxyHarness.start(routes: Self.routes, extra: adminJSON)
        let gate = CoalescingTests.Gate()
        h.origin.on("GET", "/api/users/2") { _ in await gate.wait(); return .json("{}") }
        // The proxy's connections to the origin that are open (`/proc/net/tcp`'s 01).
        let port = h.origin.port
        let open: @Sendable () throws -> Int = { try UpstreamTrustTests.states(toPort: port).filter { $0 == "01" }.count }
        let fill = Task { try? await h.get("/api/users/2") }
        #expect(try await eventually { h.origin.count(path: "/api/users/2") == 1 })
        #expect(try open() == 1)
        async let drained: Void = h.proxy.shutdown(grace: .seconds(3))
        _ = await fill.value   // cut at the grace's end
        // Run on, it would hold its upstream connection for another 3 s.
        #expect(try await eventually(timeout: .seconds(1.5)) { try open() == 0 })
        gate.release()
        await drained
        try? await h.origin.shutdown()
    }

    /// An admin `/refresh` waiting on an upstream that does not answer ends with the
    /// curl client's stop: the shutdown waited on it for the route's whole
    /// `upstreamTimeout` (30 s here), past DESIGN's drain.
    @Test func aRefreshWaitingOnTheUpstreamDoesNotHoldTheShutdown() async throws {
        let h = try await ProxyHarness.start(routes: Self.routes, extra: adminJSON)
        let gate = CoalescingTests.Gate()
        h.origin.on("GET", "/api/users/1") { _ in await gate.wait(); return .json("{}") }
        let refresh = Task { try? await h.admin("POST", "/refresh", json: #"{"path": "/api/users/1"}"#) }
        #expect(try await eventually { h.origin.count(path: "/api/users/1") == 1 })
        let clock = ContinuousClock()
        let took = await clock.measure { await h.proxy.shutdown(grace: .milliseconds(300)) }
        #expect(took < .seconds(10), "the drain's grace is 0.3 s")
        gate.release()
        _ = await refresh.value
        try? await h.origin.shutdown()
    }

    @Test func statsReportHitRateAndPercentiles() async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            h.origin.on("GET", "/api/users/1", .json("{}"))
            h.origin.on("GET", "/other", .text("x"))
            for _ in 0..<3 { _ = try await h.get("/api/users/1") }
            _ = try await h.get("/other")
            let stats = try await h.admin("GET", "/stats")
            #expect(stats.status == 200)
            let user = stats.json["routes"].flatMap { r -> JSONValue? in
                if case .array(let items) = r { return items.first }
                return nil
            }
            #expect(user?["route"] == .string("user"))
            #expect(user?["requests"]?.int == 3)
            #expect(user?["cache"]?["hit"]?.int == 2)
            #expect(user?["cache"]?["miss"]?.int == 1)
            #expect(user?["hitRate"] == .number(0.667))
            #expect(user?["hitRatePercent"] == .number(66.7))
            #expect(user?["latencyMs"]?["p50"]?.isNumber == true)
            #expect(user?["latencyMs"]?["p99"]?.isNumber == true)
            #expect(user?["upstreamLatencyMs"]?["p90"]?.isNumber == true)
            #expect(stats.json["total"]?["requests"]?.int == 4)
            #expect(stats.json["unrouted"]?["cache"]?["bypass"]?.int == 1)
            #expect(stats.json["l1"]?["entries"]?.int == 1)
            #expect(stats.json["redis"]?["configured"] == .bool(false))
            #expect(stats.json["config"]?.int == 1)
        }
    }

    @Test func readyzAndStatsReportRedis() async throws {
        try await withRedisServer { redis in
            let origin = try await ScriptedOrigin.start()
            let config = try ConfigLoader.parse(Data("""
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "store": { "redis": "\(redis.url)" },
              "routes": \(Self.routes), \(adminJSON) }
            """.utf8), environment: [:])
            let server = try ProxyServer(config: config, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            try await server.start()
            try await stopping(server, origin) {
                #expect(try await eventually { server.redisReady && server.redisStatus?.memoryPolicy != nil })
                origin.on("GET", "/api/users/1", .json("{}"))
                _ = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/1")
                let ready = try await adminCall(port: server.adminPort!, "GET", "/readyz", token: nil)
                #expect(ready.text == #"{"ready":true,"redis":{"configured":true,"connected":true,"breaker":"closed","l2":"usable","maxmemoryPolicy":"noeviction"},"config":1}"# + "\n")
                let stats = try await adminCall(port: server.adminPort!, "GET", "/stats")
                #expect(stats.json["redis"]?["connected"] == .bool(true))
                #expect((stats.json["redis"]?["keys"]?.int ?? 0) >= 3)   // the epoch, counters and the entry
                #expect(stats.json["redis"]?["entries"]?.int == 1, "entries, not every key")
                #expect(stats.json["redis"]?["lastError"] == nil)
                #expect((stats.json["redis"]?["usedMemoryBytes"]?.int ?? 0) > 0)
                // The count is reused for 30 s: a status page reloading every 10 s (or a
                // scraper) does not scan Redis, over the connections hits use, each time.
                let scans = try await Self.scanCalls(redis)
                #expect(scans > 0)
                let again = try await adminCall(port: server.adminPort!, "GET", "/stats")
                #expect(again.json["redis"]?["entries"]?.int == 1)
                #expect(try await Self.scanCalls(redis) == scans, "no SCAN for the second /stats")
                let metrics = prometheusSamples(try await adminCall(port: server.adminPort!, "GET", "/metrics", token: nil).text)
                #expect(metrics["sidecache_redis_up"] == 1)
            }
        }
    }

    /// SCAN commands Redis has served (`INFO commandstats`).
    static func scanCalls(_ redis: RedisServer) async throws -> Int {
        let stats = try await redis.cli("INFO", "commandstats")
        guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_scan:calls=") }) else { return 0 }
        return Int(line.dropFirst("cmdstat_scan:calls=".count).prefix { $0.isNumber }) ?? 0
    }

    /// DESIGN: an `allkeys-*` policy is logged as a warning and reported by `/readyz`.
    @Test func anEvictingRedisIsReportedByReadyzAndTheLog() async throws {
        try await withRedisServer { redis in
            _ = try await redis.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
            let origin = try await ScriptedOrigin.start()
            let logs = LogCapture()
            let config = try ConfigLoader.parse(Data("""
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "store": { "redis": "\(redis.url)" },
              "routes": \(Self.routes), \(adminJSON) }
            """.utf8), environment: [:])
            let server = try ProxyServer(config: config, logger: logs.logger)
            try await server.start()
            try await stopping(server, origin) {
                #expect(try await eventually { server.redisStatus?.memoryPolicy == "allkeys-lru" })
                let ready = try await adminCall(port: server.adminPort!, "GET", "/readyz", token: nil)
                #expect(ready.status == 200, "evicting purge counters costs hits, not correctness: still ready")
                #expect(ready.json["redis"]?["maxmemoryPolicy"] == .string("allkeys-lru"))
                #expect(ready.json["redis"]?["warning"]?.string?.contains("may evict purge counters") == true)
                #expect(logs.all.contains { $0.hasPrefix("warning") && $0.contains("allkeys-lru") })
            }
        }
    }
}
