#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
import SidecacheCore
@testable import SidecacheConfig

@Suite struct ConfigExampleTests {
    @Test func repositoryExampleParses() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("proxy.json")
        let c = try ConfigLoader.parse(try Data(contentsOf: file), environment: [:])
        #expect(c.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(c.upstream.description == "http://127.0.0.1:3000")
        #expect(c.store.redis == nil)
        #expect(c.routes.routes.map(\.name) == ["user", "users", "me", "feed"])
        let users = try #require(c.routes.route(named: "users"))
        #expect(users.ttl == .fixed(.seconds(120)))
        #expect(users.query == .only(["page", "limit", "status"]))
        #expect(users.keyHeaders == ["x-role"])
        #expect(c.routes.route(named: "user")?.ttl == .fixed(.seconds(300)))
        #expect(c.routes.route(named: "me")?.identity == .header("Authorization"))
        #expect(c.routes.route(named: "feed")?.ttl == .origin)
        #expect(c.purge.count == 3)
        #expect(c.purge[0].on.methods == ["PUT", "PATCH", "DELETE"])
        #expect(c.purge[0].targets.map(\.description) == ["/api/users/{id}", "/api/users"])
        #expect(c.purge[1].targets == [.route("users")])
        #expect(c.purge[2].readsBody)
        // With REDIS_URL set, the same file gets an L2.
        let withRedis = try ConfigLoader.parse(try Data(contentsOf: file), environment: ["REDIS_URL": "redis://10.0.0.5:6379/0"])
        #expect(withRedis.store.redis == RedisEndpoint(host: "10.0.0.5"))
    }

    @Test func designExampleParses() throws {
        let c = try parse(#"""
        {
          "$schema": "https://example.com/sidecache.schema.json",
          "listen": "0.0.0.0:8080",
          "upstream": "http://127.0.0.1:3000",
          "store": { "memory": "256MiB", "redis": "${REDIS_URL:-}" },
          "defaults": { "ttl": "60s", "staleWhileRevalidate": "0s", "staleIfError": "0s",
                        "maxBodySize": "8MiB", "upstreamTimeout": "30s" },
          "routes": [
            { "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" },
            { "name": "users", "match": "GET /api/users", "ttl": "2m",
              "key": { "query": ["page", "limit", "status"], "headers": ["X-Role"] } },
            { "name": "me", "match": "GET /api/me", "ttl": "5m", "key": { "identity": "Authorization" } },
            { "name": "feed", "match": "GET /api/feed/*", "ttl": "origin" }
          ],
          "purge": [
            { "on": "PUT|PATCH|DELETE /api/users/{id}", "paths": ["/api/users/{id}", "/api/users"] },
            { "on": "POST /api/users", "routes": ["users"] },
            { "on": "POST /api/connectors/callback", "paths": ["/api/connectors/status/{body.userId}"] }
          ],
          "warm": [ { "path": "/api/users?page=1", "every": "30m" } ],
          "admin": { "listen": "127.0.0.1:9090", "token": "${SIDECACHE_ADMIN_TOKEN:-}", "refreshLimit": "1/1h" }
        }
        """#)
        #expect(c.warm == [WarmTarget(path: "/api/users?page=1", every: .seconds(1800))])
        #expect(c.admin == AdminConfig(listen: ListenAddress(host: "127.0.0.1", port: 9090), token: nil,
                                       refreshLimit: RateLimit(count: 1, period: .seconds(3600))))
        #expect(c.routes.routes.count == 4)
    }

    @Test func minimalConfigGetsTheDocumentedDefaults() throws {
        let c = try parse(minimal)
        #expect(c.listen == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(c.upstream == UpstreamURL(scheme: "http", host: "127.0.0.1", port: 3000, basePath: ""))
        #expect(c.store == StoreConfig(memoryBytes: 256 << 20, redis: nil, consistency: .strict, prefix: "sidecache:",
                                       timeout: .milliseconds(50)))
        #expect(c.defaultTTL == .fixed(.seconds(60)))
        #expect(c.defaults == RoutePolicy(staleWhileRevalidate: .zero, staleIfError: .zero, maxBodySize: 8 << 20,
                                          upstreamTimeout: .seconds(30), maxRequestBody: 16 << 20))
        #expect(c.routes.routes.isEmpty && c.purge.isEmpty && c.warm.isEmpty)
        #expect(c.admin == nil)
        #expect(c.limits == Limits(headerBytes: 32 << 10, urlBytes: 8 << 10, connections: 10_000,
                                   idleTimeout: .seconds(60), headerTimeout: .seconds(10), bodyMemory: 64 << 20))
        #expect(c.threads == nil)
        #expect(c.log == LogConfig(level: "info", format: .text, access: false))
    }

    @Test func everyOptionalKeySet() throws {
        let c = try parse(config(#"""
          "store": {"memory": "0", "redis": "redis://r:6379", "consistency": "fast", "prefix": "p:", "timeout": "250ms"},
          "defaults": {"ttl": "30s", "staleWhileRevalidate": "5s", "staleIfError": "1h", "maxBodySize": "512KiB",
                       "upstreamTimeout": "2s", "maxRequestBody": "1MiB"},
          "routes": [{"name": "a", "match": "GET|HEAD /a/{id}", "shared": true, "key": {"query": "none", "identity": "cookie:sid"}},
                     {"name": "b", "match": "GET /b", "ttl": "1d", "override": true, "staleIfError": "0s", "key": {"query": "all"}}],
          "limits": {"headerBytes": "16KiB", "urlBytes": "2KiB", "connections": 50, "idleTimeout": "5s", "headerTimeout": "1s",
                     "bodyMemory": "8MiB"},
          "threads": 4,
          "log": {"level": "debug", "format": "json", "access": true}
        """#))
        #expect(c.store == StoreConfig(memoryBytes: 0, redis: RedisEndpoint(host: "r"), consistency: .fast, prefix: "p:", timeout: .milliseconds(250)))
        let a = try #require(c.routes.route(named: "a"))
        #expect(a.ttl == .fixed(.seconds(30)))                 // from defaults
        #expect(a.policy == RoutePolicy(staleWhileRevalidate: .seconds(5), staleIfError: .seconds(3600), maxBodySize: 512 << 10,
                                        upstreamTimeout: .seconds(2), maxRequestBody: 1 << 20))
        #expect(a.shared && !a.override && a.query == QueryKey.none && a.identity == .cookie("sid"))
        let b = try #require(c.routes.route(named: "b"))
        #expect(b.ttl == .fixed(.seconds(86_400)) && b.override && b.query == .all)
        #expect(b.policy.staleIfError == .zero && b.policy.staleWhileRevalidate == .seconds(5))
        #expect(c.limits == Limits(headerBytes: 16 << 10, urlBytes: 2 << 10, connections: 50, idleTimeout: .seconds(5), headerTimeout: .seconds(1),
                                  bodyMemory: 8 << 20))
        #expect(c.threads == 4)
        #expect(c.log == LogConfig(level: "debug", format: .json, access: true))
    }
}
