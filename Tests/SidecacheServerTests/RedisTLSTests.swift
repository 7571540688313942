import Foundation
import Logging
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Testing

/// `rediss://` against a real redis-server listening only on `--tls-port`, with
/// certificates the test makes: server-only TLS, mutual TLS, and the failures an
/// operator meets (wrong CA, no client certificate) — not connected, still serving.
@Suite("Redis over TLS", .serialized)
struct RedisTLSTests {
    static let routes = #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }]"#

    /// A started proxy with `tls` (JSON members of `store.tls`) against `redis`.
    static func withProxy(_ redis: RedisServer, url: String? = nil, tls: String,
                          _ body: (ProxyServer, ScriptedOrigin, LogCapture) async throws -> Void) async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)"}"#) }
        let logs = LogCapture()
        let config = try ConfigLoader.parse(Data("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "store": { "redis": "\(url ?? redis.url)", "timeout": "1s", "tls": { \(tls) } },
          "routes": \(routes) }
        """.utf8), environment: [:])
        let server = try ProxyServer(config: config, logger: logs.logger)
        try await server.start()
        try await stopping(server, origin) { try await body(server, origin, logs) }
    }

    static func withRedis(clientCertificates: Bool, serverDNSName: String? = nil,
                          _ body: (RedisServer, TestCertificates) async throws -> Void) async throws {
        let pki = try TestCertificates.make(serverDNSName: serverDNSName)
        defer { pki.remove() }
        let redis = try await RedisServer.start(tls: .init(certificates: pki, clientCertificates: clientCertificates))
        do {
            try await body(redis, pki)
        } catch {
            await redis.stop()
            throw error
        }
        await redis.stop()
    }

    static func get(_ server: ProxyServer, _ path: String) async throws -> TestResponse {
        try await TestHTTPClient.request(port: server.port!, "GET", path, headers: [("Host", "api.example")])
    }

    @Test func serverTLSWithAPrivateCA() async throws {
        try await Self.withRedis(clientCertificates: false) { redis, pki in
            try await Self.withProxy(redis, tls: #""ca": "\#(pki.ca)""#) { server, _, _ in
                #expect(try await eventually { server.redisReady })
                #expect(try await Self.get(server, "/api/users/1").header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                let keys = try await redis.cli("KEYS", "sidecache:e:*")
                #expect(keys.split(separator: "\n").count == 1, "the entry went to Redis over TLS: \(keys)")
                #expect(try await Self.get(server, "/api/users/1").header("X-Cache") == "HIT")
            }
        }
    }

    @Test func mutualTLSWithAClientCertificate() async throws {
        try await Self.withRedis(clientCertificates: true) { redis, pki in
            try await Self.withProxy(redis, tls: #""ca": "\#(pki.ca)", "cert": "\#(pki.clientCert)", "key": "\#(pki.clientKey)""#) { server, _, _ in
                let ready = try await eventually { server.redisReady }
                let filled = try await Self.get(server, "/api/users/2")
                #expect(ready && filled.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            }
        }
    }

    /// A Redis the proxy cannot trust, or one that wants a certificate it does not have:
    /// never connected, every request still answered (from the upstream), the reason logged
    /// (it was "redis connection lost", whatever the handshake said).
    @Test(arguments: [("wrong CA", false, "CERTIFICATE_VERIFY_FAILED"), ("no client certificate", true, "CERTIFICATE_REQUIRED")])
    func refusedTLSIsNotConnectedButServing(_ case: String, requiresClientCertificate: Bool, reason: String) async throws {
        try await Self.withRedis(clientCertificates: requiresClientCertificate) { redis, pki in
            let other = try TestCertificates.make()
            defer { other.remove() }
            let ca = requiresClientCertificate ? pki.ca : other.ca
            try await Self.withProxy(redis, tls: #""ca": "\#(ca)""#) { server, origin, logs in
                // The handshake's reason, not the "connection lost" it ends in.
                #expect(try await eventually { logs.all.contains { $0.contains("redis connect failed") && $0.contains(reason) } },
                        "\(`case`): \(logs.all.filter { $0.contains("redis connect failed") })")
                for i in 0..<5 {
                    let r = try await Self.get(server, "/api/users/\(i)")
                    #expect(r.status == 200)
                }
                #expect(origin.count(path: "/api/users/0") == 1)
                #expect(server.redisStatus?.connected == false)
                #expect(server.redisReady == false)
                #expect(try await redis.cli("KEYS", "*").isEmpty, "nothing reached Redis")
            }
        }
    }

    /// A certificate the CA signed for another name is refused, whether the URL names the
    /// server by address or by host name: any server with a certificate from that CA
    /// could otherwise stand in for Redis. `serverName` says which name to expect.
    @Test(arguments: ["127.0.0.1", "localhost"])
    func aCertificateForAnotherNameIsRefused(_ host: String) async throws {
        try await Self.withRedis(clientCertificates: false, serverDNSName: "other.example") { redis, pki in
            let url = "rediss://\(host):\(redis.port)"
            try await Self.withProxy(redis, url: url, tls: #""ca": "\#(pki.ca)""#) { (server, _, logs) async throws in
                #expect(try await eventually {
                    logs.all.contains { $0.contains("redis connect failed") && $0.contains("failedToValidateHostname") }
                })
                #expect(server.redisReady == false)
                #expect(try await Self.get(server, "/api/users/1").status == 200)
                #expect(try await redis.cli("KEYS", "*").isEmpty, "nothing reached Redis")
            }
            try await Self.withProxy(redis, url: url, tls: #""ca": "\#(pki.ca)", "serverName": "other.example""#) { server, _, _ in
                let ready = try await eventually { server.redisReady }
                #expect(ready, "the name the certificate carries, as serverName")
            }
        }
    }

    @Test func verifyFalseConnectsToAnyServerAndSaysSo() async throws {
        try await Self.withRedis(clientCertificates: false) { redis, _ in
            try await Self.withProxy(redis, tls: #""verify": false"#) { server, _, logs in
                let ready = try await eventually { server.redisReady }
                #expect(ready)
                #expect(logs.all.contains { $0.hasPrefix("warning") && $0.contains("store.tls.verify is false") })
            }
        }
    }

    /// A file that is there but holds no certificate: the start fails naming the key.
    @Test func anUnreadableCertificateFailsTheStartNamingItsKey() throws {
        let garbage = NSTemporaryDirectory() + "sidecache-not-a-ca-\(UUID().uuidString).pem"
        try "not a certificate".write(toFile: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        let config = try ConfigLoader.parse(Data("""
        { "upstream": "http://127.0.0.1:1", "store": { "redis": "rediss://127.0.0.1:1", "tls": { "ca": "\(garbage)" } } }
        """.utf8), environment: [:])
        #expect { try ProxyServer(config: config, logger: Logger(label: "test")) } throws: { error in
            "\(error)".hasPrefix("store.tls.ca:")
        }
    }
}
