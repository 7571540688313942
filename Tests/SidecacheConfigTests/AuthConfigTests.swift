import Foundation
import SidecacheCore
import Testing
@testable import SidecacheConfig

/// `auth.jwt` and `key.claims`: what is accepted, and every refusal naming its field.
@Suite struct AuthConfigTests {
    static let secret = String(repeating: "k", count: 32)
    static let claimsRoute = #""routes": [{ "name": "r", "match": "GET /r", "key": { "claims": ["role"] } }]"#

    static func keySetFile(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "sidecache-jwks-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aClaimsRouteTakesTheTokenSourceOfAuthJWT() throws {
        let c = try parse(config(#""auth": { "jwt": { "secret": "\#(Self.secret)", "from": "cookie:jwt", "leeway": "30s" } }, "# +
                                 Self.claimsRoute))
        #expect(c.jwt?.secret == Self.secret && c.jwt?.leeway == .seconds(30))
        #expect(c.routes.routes.first?.claims == ClaimsKey(names: ["role"], from: .cookie("jwt"), authority: c.jwt!.authority))
    }

    /// Who issues the tokens is part of a claims key: the issuer when named (its key
    /// rotations keep the entries), else the keys; the audience either way.
    @Test func theAuthorityOfTokensIsTheIssuerElseTheKeys() {
        func authority(_ issuer: String?, _ audience: String?, _ secret: String) -> String {
            var jwt = JWTConfig()
            jwt.issuer = issuer
            jwt.audience = audience
            jwt.secret = secret
            return jwt.authority
        }
        let other = String(repeating: "o", count: 32)
        #expect(authority("https://a", nil, Self.secret) == authority("https://a", nil, other))
        #expect(authority("https://a", nil, Self.secret) != authority("https://b", nil, Self.secret))
        #expect(authority(nil, nil, Self.secret) != authority(nil, nil, other))
        #expect(authority(nil, "api", Self.secret) != authority(nil, "web", Self.secret))
        #expect(!authority(nil, nil, Self.secret).contains(Self.secret))
    }

    @Test func theJWKSetIsReadFromItsFile() throws {
        let path = try Self.keySetFile(#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "AA", "y": "AA"}]}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try parse(config(#""auth": { "jwt": { "jwks": "\#(path)" } }"#))
        #expect(c.jwt?.jwks?.path == path && c.jwt?.jwks?.json.isEmpty == false)
    }

    @Test(arguments: [
        (#""auth": { "jwt": { "secret": "short" } }"#, "auth.jwt.secret", "too short"),
        (#""auth": { "jwt": { "issuer": "x" } }"#, "auth.jwt", "needs \"secret\""),
        (#""auth": { "jwt": { "jwks": "/nonexistent/jwks.json" } }"#, "auth.jwt.jwks", "cannot read"),
        (#""auth": { "jwt": { "secret": "\#(secret)", "from": "not a header" } }"#, "auth.jwt.from", "not a header name"),
        (#""auth": { "jwt": { "secret": "\#(secret)", "algorithms": [] } }"#, "auth.jwt.algorithms", "unknown"),
        (claimsRoute, "routes[0].key.claims", "needs the top-level auth.jwt"),
        (#""auth": { "jwt": { "secret": "\#(secret)" } }, "routes": [{ "name": "r", "match": "GET /r", "key": { "claims": [] } }]"#,
         "routes[0].key.claims", "one or more claim names"),
        (#""auth": { "jwt": { "secret": "\#(secret)" } }, "routes": [{ "name": "r", "match": "GET /r", "shared": true, "key": { "claims": ["role"] } }]"#,
         "routes[0].key.claims", "shared"),
        (#""auth": { "jwt": { "secret": "\#(secret)" } }, "routes": [{ "name": "r", "match": "GET /r", "key": { "claims": ["role"], "identity": "X-User" } }]"#,
         "routes[0].key.claims", "identity"),
    ])
    func refusals(fields: String, path: String, says: String) {
        let found = problems(config(fields))
        let message = problem(at: path, in: found)
        #expect(message?.contains(says) == true, "\(path): \(message ?? "none") in \(found)")
    }

    @Test func aKeySetThatIsNotOneIsRefused() throws {
        let path = try Self.keySetFile(#"{"keys": []}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let message = problem(at: "auth.jwt.jwks", in: problems(config(#""auth": { "jwt": { "jwks": "\#(path)" } }"#)))
        #expect(message?.contains("not a JWK Set") == true)
    }

    @Test func warmHeadersAndTheClientsHost() throws {
        let c = try parse(config(#""host": "api.example", "routes": [{ "name": "r", "match": "GET /r" }], "# +
                                 #""warm": [{ "path": "/r", "every": "1m", "headers": { "X-Tenant": "t1", "Authorization": "Bearer ${T}" } }]"#),
                          env: ["T": "abc"])
        #expect(c.host == "api.example" && c.defaultHost == "api.example")
        #expect(c.warm.first?.headers == [HeaderLine(name: "Authorization", value: "Bearer abc"), HeaderLine(name: "X-Tenant", value: "t1")])
        #expect(try parse(minimal).defaultHost == "127.0.0.1:3000", "without host: the upstream's authority")
    }

    @Test(arguments: [
        (#""host": "a b""#, "host"),
        (#""host": "a\r\nX: 1""#, "host"),
        (#""routes": [{ "name": "r", "match": "GET /r" }], "warm": [{ "path": "/r", "every": "1m", "headers": { "X-A": "1\r\nX-B: 2" } }]"#,
         "warm[0].headers.X-A"),
        (#""routes": [{ "name": "r", "match": "GET /r" }], "warm": [{ "path": "/r", "every": "1m", "headers": { "Host": "x" } }]"#,
         "warm[0].headers.Host"),
        (#""routes": [{ "name": "r", "match": "GET /r" }], "warm": [{ "path": "/r", "every": "1m", "headers": { "a b": "x" } }]"#,
         "warm[0].headers.a b"),
        // Hop-by-hop: `Connection: Authorization` would strip the credential the key holds.
        (#""routes": [{ "name": "r", "match": "GET /r" }], "warm": [{ "path": "/r", "every": "1m", "headers": { "Connection": "Authorization" } }]"#,
         "warm[0].headers.Connection"),
        (#""routes": [{ "name": "r", "match": "GET /r" }], "warm": [{ "path": "/r", "every": "1m", "headers": { "Transfer-Encoding": "chunked" } }]"#,
         "warm[0].headers.Transfer-Encoding"),
    ])
    func badHostsAndWarmHeaders(fields: String, path: String) {
        let found = problems(config(fields))
        #expect(found.contains { $0.path == path }, "\(found)")
    }
}
