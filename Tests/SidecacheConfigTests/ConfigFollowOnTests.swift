import SidecacheCore
import Testing
@testable import SidecacheConfig

/// One mistake is reported once, at its own path, not again wherever it is referred to.
@Suite struct ConfigFollowOnTests {
    @Test func aBadRouteFieldDoesNotMakeItsNameUnknownToPurgeOrWarm() {
        let found = problems(config(#"""
            "routes": [{ "name": "users", "match": "GET /u", "ttl": "5 minutes" }],
            "purge": [{ "on": "POST /u", "routes": ["users"] }],
            "warm": [{ "path": "/u", "every": "1m" }]
            """#))
        #expect(found.map(\.path) == ["routes[0].ttl"])
    }

    @Test(arguments: [("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("::1", true),
                      ("127.example.com", false), ("0.0.0.0", false), ("10.0.0.1", false), ("127.0.0", false)])
    func loopback(host: String, expected: Bool) {
        #expect(ListenAddress(host: host, port: 9090).isLoopback == expected)
    }

    @Test func aHostnameThatLooksLikeLoopbackStillNeedsAToken() {
        let found = problems(config(#""admin": { "listen": "127.example.com:9090" }"#))
        #expect(found.map(\.path) == ["admin.listen"])
    }

    @Test func anEmptyRedisURLOverrideIsIgnoredLikeTheOthers() throws {
        let withRedis = try parse(config(#""store": { "redis": "redis://127.0.0.1:6379" }"#), env: ["REDIS_URL": ""])
        #expect(withRedis.store.redis == RedisEndpoint(host: "127.0.0.1"))
        let overridden = try parse(minimal, env: ["REDIS_URL": "redis://10.0.0.1:6379/2"])
        #expect(overridden.store.redis == RedisEndpoint(host: "10.0.0.1", database: 2))
    }
}
