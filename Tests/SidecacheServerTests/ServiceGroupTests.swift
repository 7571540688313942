import Foundation
import Logging
import ServiceLifecycle
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Testing

/// The proxy's parts run as one `ServiceGroup`: started in order, stopped in reverse,
/// and a graceful shutdown (what SIGTERM triggers) drains the listener. Triggered
/// here through the group, without real signals.
@Suite("Lifecycle: the proxy as a ServiceGroup")
struct ServiceGroupTests {
    private static func server(_ json: String, logs: LogCapture) throws -> ProxyServer {
        var logger = logs.logger
        logger.logLevel = .debug   // parts log their start and stop at debug
        return try ProxyServer(config: try ConfigLoader.parse(Data(json.utf8), environment: [:]), logger: logger)
    }

    /// The parts named by the "part started" (or "part stopped") lines, in log order.
    private static func parts(_ logs: LogCapture, _ event: String) -> [String] {
        logs.all.compactMap { line in
            guard line.hasPrefix("debug part \(event) "), let name = line.range(of: #""part": "#) else { return nil }
            return String(line[name.upperBound...].prefix { $0 != "]" && $0 != "," })
        }
    }

    private static func readyz(_ server: ProxyServer) async throws -> Int {
        try await adminCall(port: server.adminPort!, "GET", "/readyz", token: nil).status
    }

    @Test func gracefulShutdownLetsTheRequestInFlightFinishAndRefusesNewConnections() async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        let answer = CoalescingTests.Gate()
        origin.on("GET", "/slow") { _ in await answer.wait(); return .text("finished") }
        let server = try Self.server(#"{ "listen": "127.0.0.1:0", "upstream": "\#(origin.baseURL)", \#(adminJSON) }"#, logs: LogCapture())
        let group = server.serviceGroup()
        let run = Task { try await group.run() }
        #expect(try await server.waitUntilStarted())
        let port = try #require(server.port)
        #expect(try await Self.readyz(server) == 200)

        let kept = try await TestHTTPClient.connect(port: port)   // an idle keep-alive connection
        async let inFlight = TestHTTPClient.request(port: port, "GET", "/slow")
        #expect(try await eventually { origin.count(path: "/slow") == 1 })
        await group.triggerGracefulShutdown()

        // Draining: /readyz says so (the admin listener outlives the proxy listener), new
        // connections are refused, the request is still at the origin.
        #expect(try await eventually { try await Self.readyz(server) == 503 })
        #expect(try await eventually { (try? await TestHTTPClient.connect(port: port)) == nil })
        #expect(try await eventually { kept.isClosed })   // idle: closed at once by the drain
        #expect(origin.count(path: "/slow") == 1)

        answer.release()
        let finished = try await inFlight
        #expect(finished.status == 200 && finished.text == "finished")
        try await run.value   // the group returns once every part has stopped
        await #expect(throws: (any Error).self) { _ = try await Self.readyz(server) }
    }

    @Test func partsStartInOrderAndStopInReverse() async throws {
        try await withRedisServer { redis in
            let origin = try await ScriptedOrigin.start()
            defer { Task { try? await origin.shutdown() } }
            origin.on("GET", "/api/*", .json("{}"))
            let logs = LogCapture()
            let server = try Self.server("""
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "routes": \(WarmingTests.routes), \(adminJSON),
              "store": { "redis": "\(redis.url)", "consistency": "fast" },
              "warm": [ { "path": "/api/users/1", "every": "1h" } ] }
            """, logs: logs)
            try await server.start()
            let order = ["event-loops", "redis", "admin", "upstream", "listener", "warmer"]
            #expect(Self.parts(logs, "started") == order)
            #expect(Self.parts(logs, "stopped").isEmpty)
            #expect(try await eventually { origin.count(path: "/api/users/1") == 1 })   // the warmer runs

            await server.shutdown(grace: .seconds(1))
            #expect(Self.parts(logs, "stopped") == order.reversed())
        }
    }

    @Test func aPartThatCannotStartStopsThoseBeforeItAndNoneAfter() async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        let logs = LogCapture()
        // The admin port is taken (by the origin): the admin part fails to bind.
        let server = try Self.server("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "admin": { "listen": "127.0.0.1:\(origin.port)" } }
        """, logs: logs)
        await #expect(throws: (any Error).self) { try await server.start() }
        #expect(Self.parts(logs, "started") == ["event-loops"])
        #expect(Self.parts(logs, "stopped") == ["event-loops"])
        #expect(try await !server.waitUntilStarted())
        #expect(server.port == nil)   // the listener after it never bound
    }

    @Test func theDrainEndsAfterTheGraceWhateverIsStillInFlight() async throws {
        let origin = try await ScriptedOrigin.start()
        let answer = CoalescingTests.Gate()
        origin.on("GET", "/stuck") { _ in await answer.wait(); return .text("late") }
        let server = try Self.server(#"{ "listen": "127.0.0.1:0", "upstream": "\#(origin.baseURL)" }"#, logs: LogCapture())
        try await server.start()
        let port = try #require(server.port)
        let stuck = Task { try await TestHTTPClient.request(port: port, "GET", "/stuck") }
        #expect(try await eventually { origin.count(path: "/stuck") == 1 })

        let began = ContinuousClock.now
        await server.shutdown(grace: .milliseconds(300))
        let took = ContinuousClock.now - began
        #expect(took >= .milliseconds(300) && took < .seconds(5), "\(took)")
        await #expect(throws: (any Error).self) { _ = try await stuck.value }   // closed, never answered
        answer.release()
        try? await origin.shutdown()
    }
}
