import Foundation
import SidecacheConfig
import SidecacheCore
@testable import SidecacheMetrics
@testable import SidecacheServer
import SidecacheTestSupport
import Synchronization
import Testing

@Suite("Metrics: the scrape matches the traffic; logs")
struct MetricsTests {
    static let routes = #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }]"#
    static let purge = #"[{ "on": "PUT /api/users/{id}", "paths": ["/api/users/{id}"] }]"#

    /// A proxy with the access log on, in front of an origin `script` programs: `body`
    /// runs against it, then both stop. Returns the access log's lines.
    static func withAccessLog(_ script: (ScriptedOrigin) -> Void, _ body: (ProxyServer) async throws -> Void) async throws -> [String] {
        let origin = try await ScriptedOrigin.start()
        script(origin)
        let logs = LogCapture()
        let config = try ConfigLoader.parse(Data("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "routes": \(Self.routes), "log": { "access": true } }
        """.utf8), environment: [:])
        let server = try ProxyServer(config: config, logger: logs.logger, accessLines: logs.accessLines)
        try await server.start()
        do { try await body(server) } catch {
            await server.shutdown(grace: .seconds(1))
            try? await origin.shutdown()
            throw error
        }
        await server.shutdown(grace: .seconds(1))
        try? await origin.shutdown()
        return logs.all.filter { $0.hasSuffix(" [SidecacheServer] access") }
    }

    @Test func requestsByRouteAndCacheStatus() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge, extra: adminJSON) { h in
            h.origin.on("GET", "/api/users/1", .json(#"{"id":1}"#))
            h.origin.on("PUT", "/api/users/1", .json("{}"))
            h.origin.on("GET", "/api/other", .text("x"))
            for _ in 0..<3 { _ = try await h.get("/api/users/1") }                      // 1 miss, 2 hits
            _ = try await h.get("/api/users/1", headers: [("Authorization", "Bearer a")])  // bypass: authorization
            _ = try await h.get("/api/other")                                            // no route
            _ = try await h.send("PUT", "/api/users/1", body: Array("{}".utf8))          // purges 1 path
            let text = try await h.admin("GET", "/metrics", token: nil).text
            let m = prometheusSamples(text)
            #expect(m[#"sidecache_requests_total{route="user",cache="miss"}"#] == 1)
            #expect(m[#"sidecache_requests_total{route="user",cache="hit"}"#] == 2)
            #expect(m[#"sidecache_requests_total{route="user",cache="stale"}"#] == 0)
            #expect(m[#"sidecache_requests_total{route="user",cache="bypass"}"#] == 1)
            #expect(m[#"sidecache_requests_total{route="",cache="bypass"}"#] == 2)   // the unrouted GET and the PUT
            #expect(m[#"sidecache_bypass_total{route="user",reason="authorization"}"#] == 1)
            #expect(m[#"sidecache_purges_total{source="mutation"}"#] == 1)   // the rule's path is its own path (§4.4): one scope, once
            #expect(m[#"sidecache_purges_total{source="admin"}"#] == 0)
            #expect(m[#"sidecache_upstream_duration_seconds_count{route="user"}"#] == 2)   // the miss and the bypass
            #expect(m[#"sidecache_l1_entries"#] == 1)
            #expect((m[#"sidecache_l1_bytes"#] ?? 0) > 0)
            #expect(m[#"sidecache_redis_up"#] == nil)   // no Redis configured: no series
            #expect(text.contains("# TYPE sidecache_upstream_duration_seconds histogram"))
            // Labels are route names and closed sets: no request path ever appears.
            #expect(!text.contains("/api/"))

            // A second scrape adds only what happened since.
            _ = try await h.get("/api/users/1")
            let again = prometheusSamples(try await h.admin("GET", "/metrics", token: nil).text)
            #expect(again[#"sidecache_requests_total{route="user",cache="miss"}"#] == 2)   // purged by the PUT
            #expect(again[#"sidecache_requests_total{route="user",cache="hit"}"#] == 2)
        }
    }

    /// Durations keep their units: an answer the origin holds back 300 ms takes at least
    /// that in the access log (milliseconds) and in the upstream histogram (seconds),
    /// and not a thousand times more (the bound is generous: a slow machine stays under it).
    @Test func durationsAreMeasuredInTheirUnits() async throws {
        var samples: [String: Double] = [:]
        let lines = try await Self.withAccessLog({ $0.on("GET", "/api/users/9", .json("{}").delayed(.milliseconds(300))) }) { server in
            _ = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/9")
            samples = prometheusSamples(server.engine.metrics.scrape(l1Entries: 0, l1Bytes: 0, redisUp: nil))
        }
        let line = try #require(lines.first)
        let ms = try #require(line.firstMatch(of: /durationMs=([0-9.]+)/).flatMap { Double($0.1) }, "\(line)")
        #expect(ms >= 300 && ms < 30_000, "\(line)")
        let upstream = try #require(samples[#"sidecache_upstream_duration_seconds_sum{route="user"}"#])
        #expect(upstream >= 0.3 && upstream < 30)
    }

    @Test func upstreamErrorsByKind() async throws {
        let refusing = try RefusingPort()
        defer { withExtendedLifetime(refusing) {} }
        try await withProxy(routes: Self.routes, extra: adminJSON, upstream: "http://127.0.0.1:\(refusing.port)") { h in
            #expect(try await h.get("/api/users/1").status == 502)
            let m = prometheusSamples(try await h.admin("GET", "/metrics", token: nil).text)
            #expect(m[#"sidecache_upstream_errors_total{route="user",kind="connect"}"#] == 1)
        }
    }

    @Test func accessLogOneLinePerRequest() async throws {
        let lines = try await Self.withAccessLog({ $0.on("GET", "/api/users/7", .json("{}")) }) { server in
            _ = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/7?x=1")
            _ = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/7?x=1")
        }
        #expect(lines.count == 2)
        for (line, cache) in zip(lines, ["miss", "hit"]) {
            for part in ["method=GET", "route=user", "status=200", "cache=\(cache)", #"target="/api/users/7?x=1""#, "durationMs="] {
                #expect(line.contains(part), "\(line)")
            }
        }
    }

    /// Access lines are asked for by `log.access` alone, whatever `log.level` says, as
    /// nginx's `access_log` is apart from its `error_log`. Through the logger they were
    /// dropped below `info`.
    @Test func accessLinesAreWrittenWhateverTheLogLevel() async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/api/users/7", .json("{}"))
        let logs = LogCapture()
        var logger = logs.logger
        logger.logLevel = .error
        let config = try ConfigLoader.parse(Data("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "routes": \(Self.routes), "log": { "access": true, "level": "error" } }
        """.utf8), environment: [:])
        let server = try ProxyServer(config: config, logger: logger, accessLines: logs.accessLines)
        try await server.start()
        let status = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/7").status
        await server.shutdown(grace: .seconds(1))
        try? await origin.shutdown()
        #expect(status == 200)
        #expect(logs.all.filter { $0.hasSuffix(" [SidecacheServer] access") && $0.contains("target=/api/users/7") }.count == 1, "\(logs.all)")
    }

    /// Requests refused before they reach an exchange (malformed, too large) are logged
    /// too: before, an operator saw nothing of a client sending garbage.
    /// An absolute-form target with a password in it is refused, and logged without it.
    @Test func aRefusedTargetsUserinfoIsNotLogged() async throws {
        let lines = try await Self.withAccessLog({ _ in }) { server in
            let conn = try await RawConnection.connect(port: server.port!)
            try await conn.send("GET http://alice:s3cret@127.0.0.1/api/users/7?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            _ = try await conn.readUntilClose(timeout: .seconds(10))
        }
        #expect(lines.count == 1)
        #expect(lines.allSatisfy { !$0.contains("s3cret") && !$0.contains("alice") }, "\(lines)")
        #expect(lines.first?.contains(#"target="http://***@127.0.0.1/api/users/7?x=1""#) == true, "\(lines)")
        #expect(AccessLog.masked("http://h/a@b") == "http://h/a@b" && AccessLog.masked("*") == "*")
        #expect(AccessLog.masked("alice:pw@h:443") == "***@h:443" && AccessLog.masked("h:443") == "h:443")
    }

    @Test func refusedRequestsAreLoggedToo() async throws {
        let lines = try await Self.withAccessLog({ _ in }) { server in
            for request in ["GET /api/users/7 HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
                            "PUT /api/users/7 HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999\r\n\r\n"] {
                let conn = try await RawConnection.connect(port: server.port!)
                try await conn.send(request)
                _ = try await conn.readUntilClose(timeout: .seconds(10))
            }
        }
        #expect(lines.count == 2)
        #expect(lines.first { $0.contains("status=400") }?.contains("method=-") == true, "\(lines)")
        #expect(lines.first { $0.contains("status=413") }?.contains("target=/api/users/7") == true, "\(lines)")
    }

    /// A request whose client left before its answer is logged and counted as nginx logs
    /// it, 499: a pass-through and a waiter when they leave, a fill and a mutation that
    /// run on without their client when they end. Before, none of them left a trace.
    @Test func requestsWhoseClientLeftAreLogged499() async throws {
        let gate = CoalescingTests.Gate()
        let scripted = Mutex<ScriptedOrigin?>(nil)
        let lines = try await Self.withAccessLog({ origin in
            scripted.withLock { $0 = origin }
            origin.on("GET", "/api/users/1") { _ in await gate.wait(); return .json("{}") }
            origin.on("GET", "/slow") { _ in await gate.wait(); return .text("late") }
            origin.on("PUT", "/api/users/2") { _ in await gate.wait(); return .json("{}") }
        }) { server in
            let port = server.port!
            let origin = try #require(scripted.withLock { $0 })
            func leave(_ request: String, once ready: @escaping @Sendable () -> Bool) async throws {
                let conn = try await RawConnection.connect(port: port)
                try await conn.send(request)
                #expect(try await eventually(ready))
                try await conn.reset()
            }
            @Sendable func requests() -> Double {
                prometheusSamples(server.engine.metrics.scrape(l1Entries: 0, l1Bytes: 0, redisUp: nil))
                    .filter { $0.key.hasPrefix("sidecache_requests_total{") }.values.reduce(0, +)
            }
            try await leave("GET /api/users/1 HTTP/1.1\r\nHost: a\r\n\r\n") { origin.count(path: "/api/users/1") == 1 }
            try await leave("GET /api/users/1 HTTP/1.1\r\nHost: a\r\n\r\n") {
                server.engine.metrics.routes.stats(for: "user").coalescedCount == 1
            }
            try await leave("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n") { origin.count(path: "/slow") == 1 }
            try await leave("PUT /api/users/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}") {
                origin.count(path: "/api/users/2") == 1
            }
            #expect(try await eventually { requests() == 2 }, "the waiter and the pass-through, when they left")
            gate.release()
            #expect(try await eventually { requests() == 4 }, "the fill and the mutation, when they ended")
            #expect(try await TestHTTPClient.request(port: port, "GET", "/api/users/1", headers: [("Host", "a")]).header("X-Cache") == "HIT",
                    "the fill ran on")
        }
        let left = lines.filter { $0.contains("status=499") }
        #expect(left.count == 4, "\(lines)")
        #expect(left.filter { $0.contains("target=/api/users/1") && $0.contains("cache=miss") }.count == 2, "\(left)")
        #expect(left.contains { $0.contains("target=/slow") && $0.contains("cache=bypass") }, "\(left)")
        #expect(left.contains { $0.contains("method=PUT") }, "\(left)")
    }
}
