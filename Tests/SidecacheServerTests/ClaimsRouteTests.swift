import Foundation
import JWTKit
import Logging
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Testing

/// `key.claims` through the proxy: users of one role share one upstream fetch; a
/// token that does not verify is passed through and nothing of its answer is kept.
@Suite("key.claims: verified token claims as key parts")
struct ClaimsRouteTests {
    static let secret = "a-test-secret-that-is-long-enough-for-hs256"
    static let routes = #"[{ "name": "list", "match": "GET /items", "ttl": "5m", "key": { "claims": ["role"] } }]"#
    static let auth = #""auth": { "jwt": { "secret": "\#(secret)", "issuer": "https://auth.example" } }"#

    struct Claims: JWTPayload {
        var sub: String
        var role: String?
        var iss = "https://auth.example"
        var exp: Int
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func token(_ sub: String, role: String?, exp: Int, secret: String = secret) async throws -> String {
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(Claims(sub: sub, role: role, exp: exp))
    }

    /// A server started from a config file, so that reloads re-read it; stopped with `origin`.
    static func withServer(_ config: String, origin: ScriptedOrigin,
                           _ body: (ProxyServer, String) async throws -> Void) async throws {
        let file = try writeTempConfig(config)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let server = try ProxyServer(config: try ConfigLoader.load(file: file, environment: [:]),
                                     logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await server.start()
        try await stopping(server, origin) { try await body(server, file) }
    }

    static func get(_ h: ProxyHarness, _ token: String?) async throws -> TestResponse {
        try await h.get("/items", headers: [("Host", "api.example")] + (token.map { [("Authorization", "Bearer \($0)")] } ?? []))
    }

    @Test func usersOfOneRoleShareOneFetchAndOtherRolesDoNot() async throws {
        try await withProxy(routes: Self.routes, extra: Self.auth) { h in
            h.origin.on("GET", "/items") { req in .json(#"{"for":"\#(req.header("Authorization")?.count ?? 0)"}"#) }
            let exp = Int(h.clock.now().milliseconds / 1000) + 600
            let first = try await Self.get(h, try await Self.token("alice", role: "admin", exp: exp))
            #expect(first.header("X-Cache") == "MISS")
            let second = try await Self.get(h, try await Self.token("bob", role: "admin", exp: exp))
            #expect(second.header("X-Cache") == "HIT", "another admin gets the admins' entry")
            #expect(second.text == first.text)
            #expect(h.origin.count(path: "/items") == 1)
            let viewer = try await Self.get(h, try await Self.token("carol", role: "viewer", exp: exp))
            #expect(viewer.header("X-Cache") == "MISS", "another role never gets the admins' answer")
            #expect(h.origin.count(path: "/items") == 2)
        }
    }

    /// A session cookie beside the token: the upstream may answer for the session's user,
    /// and the role's entry would give that answer to every user of the role. Such a
    /// request bypasses; it was verified and its answer stored for the role.
    @Test func aCookieBesideTheTokenIsNeitherServedNorStored() async throws {
        try await withProxy(routes: Self.routes, extra: Self.auth) { h in
            h.origin.on("GET", "/items") { req in .json(#"{"session":"\#(req.header("Cookie") ?? "")"}"#) }
            let exp = Int(h.clock.now().milliseconds / 1000) + 600
            let alice = try await h.get("/items", headers: [("Host", "api.example"), ("Cookie", "sid=alice"),
                                                             ("Authorization", "Bearer \(try await Self.token("alice", role: "admin", exp: exp))")])
            #expect(alice.header("Cache-Status") == "sidecache; fwd=bypass; detail=cookie")
            let bob = try await Self.get(h, try await Self.token("bob", role: "admin", exp: exp))
            #expect(bob.header("X-Cache") == "MISS" && !bob.text.contains("alice"), "bob never gets alice's session answer")
        }
    }

    /// Cache deception (found by an audit): an upstream that routes case-blind, or
    /// answers `/api/me.json` as `/api/me`, answers the asker's own `/api/me` there. The
    /// claims wildcard those spellings fall to stored it for everyone of the role.
    @Test(arguments: ["/api/Me", "/api/me.json"])
    func aLooserSpellingOfAPersonalPathIsNotSharedByRole(_ path: String) async throws {
        let routes = #"""
        [{ "name": "me", "match": "GET /api/me", "key": { "identity": "Authorization" } },
         { "name": "api", "match": "GET /api/*", "key": { "claims": ["role"] } }]
        """#
        try await withProxy(routes: routes, extra: Self.auth) { h in
            h.origin.on("GET", "/api/*") { req in .json(#"{"me":"\#(req.header("Authorization")?.suffix(12) ?? "")"}"#) }
            let exp = Int(h.clock.now().milliseconds / 1000) + 600
            let alice = "Bearer " + (try await Self.token("alice", role: "user", exp: exp))
            let carol = "Bearer " + (try await Self.token("carol", role: "user", exp: exp))
            let hers = try await h.get(path, headers: [("Authorization", alice)])
            let theirs = try await h.get(path, headers: [("Authorization", carol)])
            #expect(hers.header("X-Cache") == "BYPASS" && theirs.header("X-Cache") == "BYPASS")
            #expect(theirs.text == #"{"me":"\#(carol.suffix(12))"}"#, "carol gets her own answer, never alice's")
            #expect(try await h.get("/api/items", headers: [("Authorization", alice)]).header("X-Cache") == "MISS",
                    "other paths of the wildcard still cache")
        }
    }

    @Test func tokensThatDoNotVerifyPassThroughUncached() async throws {
        try await withProxy(routes: Self.routes, extra: Self.auth) { h in
            h.origin.on("GET", "/items", .json(#"{"n":1}"#))
            let now = Int(h.clock.now().milliseconds / 1000)
            let forged = try await Self.token("mallory", role: "admin", exp: now + 600, secret: "another-secret-that-is-long-enough-too")
            let expired = try await Self.token("alice", role: "admin", exp: now - 60)
            let roleless = try await Self.token("dave", role: nil, exp: now + 600)
            let header = #"{"alg":"none","typ":"JWT"}"#, payload = #"{"sub":"x","role":"admin","exp":\#(now + 600)}"#
            let none = [header, payload].map { Data($0.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "") }
                .joined(separator: ".") + "."
            var expectedFetches = 0
            for token in [forged, expired, roleless, none, "not-a-jwt", nil] as [String?] {
                for _ in 0..<2 {
                    let r = try await Self.get(h, token)
                    expectedFetches += 1
                    #expect(r.status == 200)
                    #expect(r.header("X-Cache") == "BYPASS")
                    #expect(r.header("Cache-Status") == "sidecache; fwd=bypass; detail=unverified")
                }
            }
            #expect(h.origin.count(path: "/items") == expectedFetches, "every one reached the upstream: nothing was stored")
            // A good token afterwards misses: none of the above left an entry behind.
            let good = try await Self.get(h, try await Self.token("alice", role: "admin", exp: now + 600))
            #expect(good.header("X-Cache") == "MISS")
        }
    }

    /// DESIGN: `warm[].headers` are sent upstream and take part in the key exactly as a
    /// client's would, so the warmed entry is the one those clients hit; `host` is the
    /// Host clients use.
    @Test func aWarmedEntryWithATokenServesOtherUsersOfTheRole() async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/items", .json(#"{"items":[]}"#))
        let exp = Int(ManualClock.realNow().milliseconds / 1000) + 600
        let warmer = try await Self.token("warmer", role: "admin", exp: exp)
        let config = try ConfigLoader.parse(Data("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "host": "api.example", \(Self.auth),
          "routes": \(Self.routes),
          "warm": [ { "path": "/items", "every": "1h", "headers": { "Authorization": "Bearer \(warmer)" } } ] }
        """.utf8), environment: [:])
        let server = try ProxyServer(config: config, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await server.start()
        try await stopping(server, origin) {
            #expect(try await eventually { origin.count(path: "/items") == 1 })
            #expect(origin.requests.first { $0.path == "/items" }?.header("Authorization") == "Bearer \(warmer)", "the warm request carried the token")
            let alice = try await TestHTTPClient.request(port: server.port!, "GET", "/items", headers: [
                ("Host", "api.example"), ("Authorization", "Bearer \(try await Self.token("alice", role: "admin", exp: exp))")])
            #expect(alice.header("X-Cache") == "HIT", "another admin hits what the warmer's token fetched")
            #expect(origin.count(path: "/items") == 1)
        }
    }

    /// Admin refresh with `headers`: the variant those headers name is the one stored.
    @Test func aRefreshWithATokenFillsTheRolesEntry() async throws {
        try await withProxy(routes: Self.routes, extra: Self.auth + ", " + adminJSON) { h in
            h.origin.on("GET", "/items", .json(#"{"items":[1]}"#))
            let exp = Int(h.clock.now().milliseconds / 1000) + 600
            let token = try await Self.token("ops", role: "viewer", exp: exp)
            let refreshed = try await h.admin("POST", "/refresh", json: #"{"path": "/items", "host": "api.example", "headers": {"Authorization": "Bearer \#(token)"}}"#)
            #expect(refreshed.status == 200)
            let carol = try await Self.get(h, try await Self.token("carol", role: "viewer", exp: exp))
            #expect(carol.header("X-Cache") == "HIT")
            #expect(h.origin.count(path: "/items") == 1)
        }
    }

    /// User 42 of one issuer is not user 42 of the next: a reload that changes whose
    /// tokens a claims route trusts (the issuer, or without one the signing secret)
    /// leaves none of the old tokens' entries to answer the new ones.
    @Test(arguments: [
        (("https://old.example", "a-test-secret-that-is-long-enough-for-hs256"), ("https://new.example", "a-test-secret-that-is-long-enough-for-hs256")),
        ((nil, "a-test-secret-that-is-long-enough-for-hs256"), (nil, "another-secret-that-is-long-enough-for-hs256")),
    ] as [((String?, String), (String?, String))])
    func aReloadThatChangesWhoseTokensAreTrustedLeavesNothingOfTheOld(before: (String?, String), after: (String?, String)) async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/items") { req in .json(#"{"for":"\#(req.header("Authorization") ?? "")"}"#) }
        func config(_ trust: (String?, String)) -> String {
            let issuer = trust.0.map { #", "issuer": "\#($0)""# } ?? ""
            return """
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "auth": { "jwt": { "secret": "\(trust.1)"\(issuer) } },
              "routes": \(Self.routes) }
            """
        }
        try await Self.withServer(config(before), origin: origin) { server, file in
            let exp = Int(ManualClock.realNow().milliseconds / 1000) + 600
            func get(_ trust: (String?, String)) async throws -> TestResponse {
                let keys = await JWTKeyCollection().add(hmac: HMACKey(from: trust.1), digestAlgorithm: .sha256)
                let token = try await keys.sign(Claims(sub: "42", role: "admin", iss: trust.0 ?? "", exp: exp))
                return try await TestHTTPClient.request(port: server.port!, "GET", "/items", headers: [("Authorization", "Bearer \(token)")])
            }
            #expect(try await get(before).header("X-Cache") == "MISS")
            #expect(try await get(before).header("X-Cache") == "HIT")
            try config(after).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            let next = try await get(after)
            #expect(next.header("X-Cache") == "MISS", "the old issuer's user 42 answered the new one's")
            #expect(origin.count(path: "/items") == 2)
        }
    }

    /// DESIGN: the JWK Set file is re-read on SIGHUP (a reload): a key added to it
    /// verifies tokens from then on; the old set did not know it.
    @Test func aReloadReReadsTheJWKSet() async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/items", .json(#"{"items":[]}"#))
        let old = ES256PrivateKey(), rotated = ES256PrivateKey()
        func keySet(_ key: ES256PrivateKey, _ kid: String) -> String {
            let p = key.publicKey.parameters!
            return #"{"keys":[{"kty":"EC","crv":"P-256","kid":"\#(kid)","alg":"ES256","x":"\#(p.x)","y":"\#(p.y)"}]}"#
        }
        let jwksFile = try writeTempConfig(keySet(old, "k1"))
        defer { try? FileManager.default.removeItem(atPath: jwksFile) }
        let config = """
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "auth": { "jwt": { "jwks": "\(jwksFile)" } },
          "routes": \(Self.routes) }
        """
        try await Self.withServer(config, origin: origin) { server, configFile in
            let exp = Int(ManualClock.realNow().milliseconds / 1000) + 600
            let signer = await JWTKeyCollection().add(ecdsa: rotated, kid: "k2")
            let token = try await signer.sign(Claims(sub: "alice", role: "admin", exp: exp), kid: "k2")
            func get() async throws -> TestResponse {
                try await TestHTTPClient.request(port: server.port!, "GET", "/items", headers: [("Authorization", "Bearer \(token)")])
            }
            #expect(try await get().header("Cache-Status") == "sidecache; fwd=bypass; detail=unverified", "k2 is not in the set yet")
            try keySet(rotated, "k2").write(toFile: jwksFile, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: configFile, environment: [:]) == .applied(generation: 2, needsRestart: []))
            #expect(try await get().header("X-Cache") == "MISS")
            #expect(try await get().header("X-Cache") == "HIT")

            // A set with a key jwt-kit cannot load (an EC key without its coordinates) stops
            // a start; a reload of it is refused the same way and the running keys stay. It
            // was applied, and from then on every token failed to verify: every claims
            // request went to the upstream, uncached, with nothing said above debug.
            try #"{"keys":[{"kty":"EC","crv":"P-256","kid":"k3"}]}"#.write(toFile: jwksFile, atomically: true, encoding: .utf8)
            guard case .rejected(let problems) = await server.reload(from: configFile, environment: [:]) else {
                Issue.record("a JWK Set that cannot load was applied")
                return
            }
            #expect(problems.contains { $0.contains("auth.jwt.jwks") }, "\(problems)")
            #expect(try await get().header("X-Cache") == "HIT", "the running keys still verify")
        }
    }
}
