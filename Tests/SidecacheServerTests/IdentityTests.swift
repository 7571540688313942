import Foundation
import Logging
import SidecacheConfig
import Testing
import SidecacheTestSupport
@testable import SidecacheMetrics
@testable import SidecacheServer

@Suite("No user ever receives another user's answer")
struct IdentityTests {
    @Test func identityScopesEntriesPerUser() async throws {
        try await withProxy(routes: #"[{ "name": "me", "match": "GET /api/me", "ttl": "5m", "key": { "identity": "Authorization" } }]"#) { h in
            h.origin.on("GET", "/api/me") { req in .text("user:" + (req.header("Authorization") ?? "anon")) }
            let alice = try await h.get("/api/me", headers: [("Authorization", "Bearer alice")])
            let bob = try await h.get("/api/me", headers: [("Authorization", "Bearer bob")])
            let aliceAgain = try await h.get("/api/me", headers: [("Authorization", "Bearer alice")])
            let bobAgain = try await h.get("/api/me", headers: [("Authorization", "Bearer bob")])
            #expect(alice.text == "user:Bearer alice")
            #expect(bob.text == "user:Bearer bob")
            #expect(bob.header("X-Cache") == "MISS")
            #expect(aliceAgain.text == "user:Bearer alice" && aliceAgain.header("X-Cache") == "HIT")
            #expect(bobAgain.text == "user:Bearer bob" && bobAgain.header("X-Cache") == "HIT")
            let anonymous = try await h.get("/api/me")
            #expect(anonymous.text == "user:anon")
        }
    }

    /// Concurrent misses of several users: each user's requests wait only on that user's
    /// fill. Alice's fill is held at the origin while Bob's five requests come: one of
    /// them fetches, four wait on it, none on Alice's, and no one gets another's answer.
    @Test func concurrentMissesOfTwoUsersNeverShareAFill() async throws {
        try await withProxy(routes: #"[{ "name": "me", "match": "GET /api/me", "ttl": "5m", "key": { "identity": "Authorization" } }]"#) { h in
            let gate = CoalescingTests.Gate()
            h.origin.on("GET", "/api/me") { req in
                await gate.wait()
                return .text("user:" + (req.header("Authorization") ?? "anon"))
            }
            @Sendable func waiting() -> Int { h.proxy.engine.metrics.routes.stats(for: "me").coalescedCount }
            @Sendable func me(_ who: String) async throws -> TestResponse { try await h.get("/api/me", headers: [("Authorization", "Bearer \(who)")]) }
            let answers = try await withThrowingTaskGroup(of: (String, String).self) { group in
                group.addTask { ("alice", try await me("alice").text) }
                #expect(try await eventually { h.origin.count(path: "/api/me") == 1 })
                for _ in 0..<5 { group.addTask { ("bob", try await me("bob").text) } }
                #expect(try await eventually { h.origin.count(path: "/api/me") == 2 && waiting() == 4 },
                        "Bob's requests wait on Bob's fill: \(h.origin.count(path: "/api/me")) fetches, \(waiting()) waiting")
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 6)
            for (who, text) in answers { #expect(text == "user:Bearer \(who)") }
            #expect(h.origin.count(path: "/api/me") == 2)
        }
    }

    /// DESIGN: an identity value is hashed, never stored or logged in clear. With every
    /// log line on (trace, and the access log), misses, hits, a refused request and an
    /// upstream error: the credential is in none of them.
    @Test func identityValuesAreNeverLogged() async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/api/me") { _ in .text("me") }
        origin.on("GET", "/api/me/broken") { _ in .text("no", status: 500) }
        let logs = LogCapture()
        var logger = logs.logger
        logger.logLevel = .trace
        let config = try ConfigLoader.parse(Data("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "log": { "access": true },
          "routes": [{ "name": "me", "match": "GET /api/me/*", "ttl": "5m", "key": { "identity": "Authorization" } },
                     { "name": "me1", "match": "GET /api/me", "ttl": "5m", "key": { "identity": "Authorization" } }] }
        """.utf8), environment: [:])
        let server = try ProxyServer(config: config, logger: logger, accessLines: logs.accessLines)
        try await server.start()
        let secret = [("Authorization", "Bearer SECRET-alice")]
        for path in ["/api/me", "/api/me", "/api/me/broken"] {
            _ = try await TestHTTPClient.request(port: server.port!, "GET", path, headers: secret)
        }
        let twice = try await TestHTTPClient.request(port: server.port!, "GET", "/api/me", headers: secret + [("Authorization", "Bearer SECRET-bob")])
        await server.shutdown(grace: .seconds(1))
        try? await origin.shutdown()
        #expect(twice.status == 400)
        #expect(logs.all.filter { $0.hasSuffix(" [SidecacheServer] access") }.count >= 3, "the access log was on")
        #expect(!logs.all.contains { $0.contains("SECRET-") }, "\(logs.all.filter { $0.contains("SECRET-") })")
    }

    /// CGI, WSGI and Rack servers read `X_Api_Key` as `X-Api-Key`. Sent on, it was the
    /// user's credential upstream and nothing here: the answer was stored under the
    /// anonymous key and served to every anonymous client. Such fields are dropped.
    @Test(arguments: [("X_Api_Key", "identity"), ("X_Role", "headers"), ("X_Original_URL", "none")])
    func headerNamesWithUnderscoresNeverReachTheUpstream(name: String, keyed: String) async throws {
        let key = switch keyed {
        case "identity": #", "key": { "identity": "X-Api-Key" }"#
        case "headers": #", "key": { "headers": ["X-Role"] }"#
        default: ""
        }
        try await withProxy(routes: #"[{ "name": "me", "match": "GET /api/me", "ttl": "5m"\#(key) }]"#) { h in
            h.origin.on("GET", "/api/me") { req in
                .text(req.headers.filter { $0.name.contains("_") }.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "|for anyone")
            }
            let sent = try await h.get("/api/me", headers: [(name, "alice-secret")])
            #expect(sent.text == "|for anyone", "the upstream got \(sent.text)")
            let anonymous = try await h.get("/api/me")
            #expect(anonymous.text == "|for anyone")
        }
    }

    @Test func cookieIdentity() async throws {
        try await withProxy(routes: #"[{ "name": "me", "match": "GET /api/me", "ttl": "5m", "key": { "identity": "cookie:sid" } }]"#) { h in
            h.origin.on("GET", "/api/me") { req in .text(req.header("Cookie") ?? "") }
            #expect(try await h.get("/api/me", headers: [("Cookie", "a=1; sid=one")]).text == "a=1; sid=one")
            let other = try await h.get("/api/me", headers: [("Cookie", "a=1; sid=two")])
            #expect(other.text == "a=1; sid=two" && other.header("X-Cache") == "MISS")
            #expect(try await h.get("/api/me", headers: [("Cookie", "sid=one; b=2")]).header("X-Cache") == "HIT")
        }
    }

    @Test(arguments: [("Authorization", "Bearer x", "authorization"), ("Cookie", "s=1", "cookie"), ("COOKIE", "s=1", "cookie"),
                      ("x-method-override", "DELETE", "method-override")])
    func credentialsBypassRoutesWithoutIdentity(header: String, value: String, reason: String) async throws {
        try await withProxy(routes: #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }]"#) { h in
            h.origin.on("GET", "/api/users/1") { req in .text(req.header(header) ?? "none") }
            _ = try await h.get("/api/users/1")                         // stores the anonymous answer
            let withCredential = try await h.get("/api/users/1", headers: [(header, value)])
            #expect(withCredential.text == value)                       // not the stored anonymous one
            #expect(withCredential.header("Cache-Status") == "sidecache; fwd=bypass; detail=\(reason)")
            _ = try await h.get("/api/users/1", headers: [(header, "other")])
            let anonymous = try await h.get("/api/users/1")
            #expect(anonymous.text == "none" && anonymous.header("X-Cache") == "HIT")
        }
    }

    @Test func sharedRoutesLiftTheCredentialRule() async throws {
        try await withProxy(routes: #"[{ "name": "cat", "match": "GET /api/catalog", "ttl": "5m", "shared": true }]"#) { h in
            h.origin.on("GET", "/api/catalog", .text("catalog"))
            _ = try await h.get("/api/catalog", headers: [("Authorization", "Bearer a")])
            let other = try await h.get("/api/catalog", headers: [("Authorization", "Bearer b")])
            #expect(other.header("X-Cache") == "HIT")
        }
    }

    @Test func keyHeadersVaryTheEntry() async throws {
        try await withProxy(routes: #"[{ "name": "l", "match": "GET /l", "ttl": "5m", "key": { "headers": ["X-Role"] } }]"#) { h in
            h.origin.on("GET", "/l") { req in .text(req.header("X-Role") ?? "-", headers: [("Vary", "X-Role")]) }
            #expect(try await h.get("/l", headers: [("X-Role", "admin")]).text == "admin")
            let user = try await h.get("/l", headers: [("X-Role", "user")])
            #expect(user.text == "user" && user.header("X-Cache") == "MISS")
            #expect(try await h.get("/l", headers: [("X-Role", "admin")]).header("X-Cache") == "HIT")
        }
    }
}
