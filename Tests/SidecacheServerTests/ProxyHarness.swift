import Foundation
import Logging
import SidecacheConfig
import SidecacheCore
import SidecacheServer
import SidecacheTestSupport

/// A real proxy on 127.0.0.1:0 in front of a real scripted origin, driven by a manual
/// clock. `routes`, `purge` and `extra` are JSON fragments of proxy.json.
final class ProxyHarness: Sendable {
    let origin: ScriptedOrigin
    let proxy: ProxyServer
    let port: Int
    let clock: ManualClock

    static func start(routes: String = "[]", purge: String = "[]", extra: String = "",
                      upstream: String? = nil) async throws -> ProxyHarness {
        let origin = try await ScriptedOrigin.start()
        let json = """
        { "listen": "127.0.0.1:0", "upstream": "\(upstream ?? origin.baseURL)",
          "routes": \(routes), "purge": \(purge)\(extra.isEmpty ? "" : ", " + extra) }
        """
        let config = try ConfigLoader.parse(Data(json.utf8), environment: [:])
        let clock = ManualClock()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let proxy = try ProxyServer(config: config, clock: clock, logger: logger)
        try await proxy.start()
        return ProxyHarness(origin: origin, proxy: proxy, port: proxy.port!, clock: clock)
    }

    private init(origin: ScriptedOrigin, proxy: ProxyServer, port: Int, clock: ManualClock) {
        self.origin = origin
        self.proxy = proxy
        self.port = port
        self.clock = clock
    }

    /// One request on a fresh connection.
    func send(_ method: String, _ uri: String, headers: [(name: String, value: String)] = [],
              body: [UInt8]? = nil) async throws -> TestResponse {
        try await TestHTTPClient.request(port: port, method, uri, headers: headers, body: body)
    }

    func get(_ uri: String, headers: [(name: String, value: String)] = []) async throws -> TestResponse {
        try await send("GET", uri, headers: headers)
    }

    func stop() async {
        await proxy.shutdown(grace: .seconds(2))
        try? await origin.shutdown()
    }
}

/// Runs `body` with a started harness and always stops it.
func withProxy(routes: String = "[]", purge: String = "[]", extra: String = "", upstream: String? = nil,
               _ body: (ProxyHarness) async throws -> Void) async throws {
    let harness = try await ProxyHarness.start(routes: routes, purge: purge, extra: extra, upstream: upstream)
    do {
        try await body(harness)
    } catch {
        await harness.stop()
        throw error
    }
    await harness.stop()
}
