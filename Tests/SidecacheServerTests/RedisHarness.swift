import Foundation
import Logging
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Synchronization
import Testing

/// Two proxy instances sharing one real redis-server, in front of one scripted origin,
/// each with an admin listener (for `/readyz`).
final class RedisPair: Sendable {
    let origin: ScriptedOrigin
    let redis: RedisServer
    let a: ProxyServer
    let b: ProxyServer
    let portA: Int
    let portB: Int
    let logs: LogCapture

    static let routes = """
    [ { "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" },
      { "name": "me", "match": "GET /api/me", "ttl": "5m", "key": { "identity": "Authorization" } } ]
    """
    static let purge = #"[ { "on": "PUT|DELETE /api/users/{id}", "paths": ["/api/users/{id}"] } ]"#

    /// `redisURL` replaces the server's URL; `signingKeys` are A's and B's `store.signingKey`;
    /// `consistencyB`, B's `store.consistency` when it differs from A's.
    static func start(consistency: String = "strict", consistencyB: String? = nil, memory: String = "64MiB", password: String? = nil,
                      redisURL: String? = nil, timeout: String = "1s", outageGrace: String = "10m",
                      signingKeys: [String?] = [nil, nil], routes: String = routes, purge: String = purge,
                      waitReady: Bool = true) async throws -> RedisPair {
        let origin = try await ScriptedOrigin.start()
        let redis = try await RedisServer.start(password: password)
        let logs = LogCapture()
        func proxy(signingKey: String?, consistency: String) async throws -> ProxyServer {
            let signing = signingKey.map { #", "signingKey": "\#($0)""# } ?? ""
            let json = """
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
              "store": { "memory": "\(memory)", "redis": "\(redisURL ?? redis.url)", "consistency": "\(consistency)", "timeout": "\(timeout)",
                         "outageGrace": "\(outageGrace)"\(signing) },
              "routes": \(routes), "purge": \(purge), \(adminJSON) }
            """
            let config = try ConfigLoader.parse(Data(json.utf8), environment: [:])
            let server = try ProxyServer(config: config, logger: logs.logger)
            try await server.start()
            return server
        }
        let a = try await proxy(signingKey: signingKeys[0], consistency: consistency)
        let b = try await proxy(signingKey: signingKeys[1], consistency: consistencyB ?? consistency)
        let pair = RedisPair(origin: origin, redis: redis, a: a, b: b, logs: logs)
        // Both instances connected and ready before the test starts.
        if waitReady { #expect(try await eventually { a.redisReady && b.redisReady }, "both instances ready on Redis before the test") }
        return pair
    }

    private init(origin: ScriptedOrigin, redis: RedisServer, a: ProxyServer, b: ProxyServer, logs: LogCapture) {
        self.origin = origin
        self.redis = redis
        self.a = a
        self.b = b
        self.portA = a.port!
        self.portB = b.port!
        self.logs = logs
    }

    /// Clients of both instances name the same API host (the Host is part of the key).
    func get(_ port: Int, _ uri: String, headers: [(name: String, value: String)] = []) async throws -> TestResponse {
        try await TestHTTPClient.request(port: port, "GET", uri, headers: [("Host", "api.example")] + headers)
    }

    /// The origin answers GET `path` with `{"v":N}`; each PUT on it makes N one higher.
    func versioned(_ path: String) {
        let version = Mutex(1)
        origin.on("GET", path) { _ in .json(#"{"v":\#(version.withLock { $0 })}"#) }
        origin.on("PUT", path) { _ in version.withLock { $0 += 1 }; return .json("{}") }
    }

    func send(_ port: Int, _ method: String, _ uri: String) async throws -> TestResponse {
        try await TestHTTPClient.request(port: port, method, uri, headers: [("Host", "api.example")], body: Array("{}".utf8))
    }

    /// What `/readyz` says about L2 on `proxy` ("usable", "purges-pending", …).
    func l2(_ proxy: ProxyServer) async throws -> String? {
        guard case .string(let state)? = try await adminCall(port: proxy.adminPort!, "GET", "/readyz", token: nil).json["redis"]?["l2"] else {
            return nil
        }
        return state
    }

    func stop() async {
        await a.shutdown(grace: .seconds(1))
        await b.shutdown(grace: .seconds(1))
        await redis.stop()
        try? await origin.shutdown()
    }
}

/// `outageGrace` is long unless a test is about it (the pair runs on the real clock).
func withRedisPair(consistency: String = "strict", consistencyB: String? = nil, memory: String = "64MiB", password: String? = nil,
                   redisURL: String? = nil, timeout: String = "1s", outageGrace: String = "10m", signingKeys: [String?] = [nil, nil],
                   routes: String = RedisPair.routes, purge: String = RedisPair.purge,
                   waitReady: Bool = true, _ body: (RedisPair) async throws -> Void) async throws {
    let pair = try await RedisPair.start(consistency: consistency, consistencyB: consistencyB, memory: memory, password: password, redisURL: redisURL,
                                         timeout: timeout, outageGrace: outageGrace, signingKeys: signingKeys, routes: routes, purge: purge,
                                         waitReady: waitReady)
    do {
        try await body(pair)
    } catch {
        await pair.stop()
        throw error
    }
    await pair.stop()
}

/// Collects log lines so tests can assert on what an operator would read.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in CaptureHandler(capture: self) }
    }

    var all: [String] { lines.withLock { $0 } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    /// Takes the access log's lines (`ProxyServer`'s `accessLines`) as the proxy writes
    /// them, less their newline.
    var accessLines: @Sendable (UnsafeRawBufferPointer) -> Void {
        { [self] bytes in append(String(decoding: bytes.prefix(while: { $0 != UInt8(ascii: "\n") }), as: UTF8.self)) }
    }

    struct CaptureHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append("\(event.level) \(event.message) \(event.metadata ?? [:])")
        }
    }
}
