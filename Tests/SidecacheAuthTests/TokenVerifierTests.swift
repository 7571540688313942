import Crypto
import Foundation
@testable import SidecacheAuth
import SidecacheCore
import Testing

/// Tokens are built here byte by byte (header, payload, signature with swift-crypto),
/// so the attacks a library would never produce — `alg: none`, an HMAC over the public
/// key, a header naming another algorithm — are in the table too.
@Suite("Token verification: the JWT matrix")
struct TokenVerifierTests {
    static let now = Timestamp(seconds: 1_800_000_000)
    static let secret = String(repeating: "s3cret-", count: 5)   // 35 bytes: HS256 only
    static let ecKey = P256.Signing.PrivateKey()

    static func b64(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func json(_ object: [String: Any]) -> Data { try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) }

    enum Signature { case hmac(String), ec(P256.Signing.PrivateKey), none }

    static func token(alg: String, kid: String? = nil, _ claims: [String: Any], signed: Signature) -> String {
        token(alg: alg, kid: kid, payload: json(claims), signed: signed)
    }

    /// A token over payload bytes as given: numbers no Foundation type holds exactly.
    static func token(alg: String, kid: String? = nil, payload: Data, signed: Signature) -> String {
        var header: [String: Any] = ["alg": alg, "typ": "JWT"]
        if let kid { header["kid"] = kid }
        return token(header: json(header), payload: payload, signed: signed)
    }

    /// A token over header and payload bytes as given.
    static func token(header: Data, payload: Data, signed: Signature) -> String {
        let input = b64(header) + "." + b64(payload)
        let signature: Data
        switch signed {
        case .hmac(let key):
            let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(key.utf8)))
            signature = Data(mac)
        case .ec(let key):
            signature = try! key.signature(for: Data(input.utf8)).rawRepresentation
        case .none:
            signature = Data()
        }
        return input + "." + b64(signature)
    }

    static var keySet: Data {
        let raw = ecKey.publicKey.rawRepresentation
        return json(["keys": [["kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
                               "x": b64(raw.prefix(32)), "y": b64(raw.suffix(32))]]])
    }

    static func verifier(issuer: String? = "https://auth.example", audience: String? = "api", leeway: Duration = .zero) -> TokenVerifier {
        TokenVerifier(rules: TokenRules(secret: secret, keySet: keySet, issuer: issuer, audience: audience, leeway: leeway))
    }

    static var good: [String: Any] { ["sub": "u1", "role": "admin", "iss": "https://auth.example", "aud": "api",
                                      "exp": 1_800_000_600, "nbf": 1_799_999_000] }

    static func with(_ changes: [String: Any?]) -> [String: Any] {
        var claims = good
        for (k, v) in changes { claims[k] = v }
        return claims
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let token: String
        let expected: TokenRefusal?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "valid HS256", token: token(alg: "HS256", good, signed: .hmac(secret)), expected: nil),
        Case(name: "valid ES256 from the JWK Set", token: token(alg: "ES256", kid: "k1", good, signed: .ec(ecKey)), expected: nil),
        Case(name: "aud as a list", token: token(alg: "HS256", with(["aud": ["web", "api"]]), signed: .hmac(secret)), expected: nil),
        Case(name: "expired", token: token(alg: "HS256", with(["exp": 1_799_999_990]), signed: .hmac(secret)), expected: .expired),
        Case(name: "not yet valid", token: token(alg: "HS256", with(["nbf": 1_800_000_100]), signed: .hmac(secret)),
             expected: .notYetValid),
        Case(name: "bad signature", token: token(alg: "HS256", good, signed: .hmac(secret + "x")), expected: .signature),
        Case(name: "wrong issuer", token: token(alg: "HS256", with(["iss": "https://evil.example"]), signed: .hmac(secret)),
             expected: .issuer),
        Case(name: "no issuer", token: token(alg: "HS256", with(["iss": nil]), signed: .hmac(secret)), expected: .issuer),
        Case(name: "wrong audience", token: token(alg: "HS256", with(["aud": "other"]), signed: .hmac(secret)), expected: .audience),
        Case(name: "alg none", token: token(alg: "none", good, signed: .none), expected: .algorithm),
        Case(name: "alg NONE", token: token(alg: "NONE", good, signed: .none), expected: .algorithm),
        Case(name: "HS256 keyed with the public key", token: token(alg: "HS256", kid: "k1", good,
                                                                  signed: .hmac(String(decoding: keySet, as: UTF8.self))),
             expected: .signature),
        Case(name: "ES256 signature, header says RS256", token: token(alg: "RS256", kid: "k1", good, signed: .ec(ecKey)),
             expected: .algorithm),
        Case(name: "HS384 with a secret too short for it", token: token(alg: "HS384", good, signed: .hmac(secret)),
             expected: .unknownKey),
        Case(name: "a kid not in the set", token: token(alg: "ES256", kid: "k9", good, signed: .ec(ecKey)), expected: .unknownKey),
        Case(name: "no kid: the set's only key", token: token(alg: "ES256", good, signed: .ec(ecKey)), expected: nil),
        Case(name: "ES256 signed by another key", token: token(alg: "ES256", kid: "k1", good, signed: .ec(P256.Signing.PrivateKey())),
             expected: .signature),
        Case(name: "not a JWT", token: "abc.def", expected: .malformed),
        Case(name: "exp not a number", token: token(alg: "HS256", with(["exp": "soon"]), signed: .hmac(secret)), expected: .malformed),
        Case(name: "exp out of any clock's reach", token: token(alg: "HS256", with(["exp": 1e300]), signed: .hmac(secret)),
             expected: .malformed),
        // RFC 7519 §4: the proxy kept the first `role`, an upstream in JavaScript, Python or Go the last.
        Case(name: "a claim named twice", token: token(alg: "HS256", payload: Data(
            #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","role":"user"}"#.utf8),
            signed: .hmac(secret)), expected: .malformed),
        Case(name: "a claim named twice, once escaped", token: token(alg: "HS256", payload: Data(
            #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","r\u006fle":"user"}"#.utf8),
            signed: .hmac(secret)), expected: .malformed),
        Case(name: "a member named twice inside a claim", token: token(alg: "HS256", payload: Data(
            #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","org":{"id":1,"id":2}}"#.utf8),
            signed: .hmac(secret)), expected: .malformed),
        Case(name: "a name twice in different objects", token: token(alg: "HS256", payload: Data(
            #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","org":{"role":"x"}}"#.utf8),
            signed: .hmac(secret)), expected: nil),
        // Exact integers to Foundation, the nearest Double (…992, 123456789012345664) to
        // JavaScript and Python: keyed as one user, read upstream as another.
        Case(name: "a number past 2^53 with a fraction", token: token(alg: "HS256", payload: Data(
            #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","sub":9007199254740993.0}"#.utf8),
            signed: .hmac(secret)), expected: .malformed),
        Case(name: "a number past 2^53 with an exponent", token: token(alg: "HS256", payload: Data(
            #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","sub":[1,12345678901234567e1]}"#.utf8),
            signed: .hmac(secret)), expected: .malformed),
        Case(name: "a fraction in a string, a small exponent", token: token(alg: "HS256", payload: Data(
            #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","n":"9007199254740993.0","m":2.5e3}"#.utf8),
            signed: .hmac(secret)), expected: nil),
        // The header too: Foundation keeps the first `alg`, others the last (`none`).
        Case(name: "a header member named twice", token: token(header: Data(#"{"alg":"HS256","typ":"JWT","alg":"none"}"#.utf8),
                                                               payload: json(good), signed: .hmac(secret)), expected: .malformed),
        // RFC 7515 §4.1.11: extensions the verifier does not know must be refused.
        Case(name: "a crit header", token: token(header: Data(#"{"alg":"HS256","crit":["exp2"],"exp2":1}"#.utf8),
                                                 payload: json(good), signed: .hmac(secret)), expected: .malformed),
    ]

    @Test(arguments: cases)
    func matrix(_ c: Case) async throws {
        let verifier = Self.verifier()
        try await verifier.ready()
        let result = await verifier.verify(c.token[...], now: Self.now)
        switch (result, c.expected) {
        case (.success(let claims), nil):
            #expect(claims["role"] == #""admin""#)
        case (.failure(let refusal), let expected?):
            #expect(refusal == expected)
        default:
            Issue.record("\(c.name): got \(result), expected \(c.expected.map { "\($0)" } ?? "success")")
        }
    }

    @Test func leewayCoversASmallClockDifference() async throws {
        let verifier = Self.verifier(leeway: .seconds(30))
        let late = Self.token(alg: "HS256", Self.with(["exp": 1_799_999_990]), signed: .hmac(Self.secret))
        guard case .success = await verifier.verify(late[...], now: Self.now) else { Issue.record("within leeway"); return }
        let early = Self.token(alg: "HS256", Self.with(["nbf": 1_800_000_020]), signed: .hmac(Self.secret))
        guard case .success = await verifier.verify(early[...], now: Self.now) else { Issue.record("within leeway"); return }
    }

    /// Claims that cannot tell their holders apart are not keyed on (the route then
    /// bypasses as for a missing claim): `null`, and numbers beyond a Double's exact
    /// integers, which made users 12345678901234567890123 and …124 one key. 64-bit ids
    /// above Int64 stay exact.
    @Test func onlyClaimsThatTellTheirHoldersApartAreKeyable() async throws {
        let verifier = Self.verifier()
        func claims(_ extra: String) async throws -> [String: String] {
            let payload = #"{"iss":"https://auth.example","aud":"api","exp":1800000600,"role":"admin","#
            let token = Self.token(alg: "HS256", payload: Data((payload + extra + "}").utf8), signed: .hmac(Self.secret))
            guard case .success(let claims) = await verifier.verify(token[...], now: Self.now) else {
                Issue.record("\(extra) did not verify")
                return [:]
            }
            return claims
        }
        #expect(try await claims(#""sub":12345678901234567890"#)["sub"] == "12345678901234567890")
        #expect(try await claims(#""sub":12345678901234567891"#)["sub"] == "12345678901234567891")
        #expect(try await claims(#""sub":-9223372036854775808"#)["sub"] == "-9223372036854775808")
        #expect(try await claims(#""sub":123456789012345678901234"#)["sub"] == nil)
        #expect(try await claims(#""sub":[1, 123456789012345678901234]"#)["sub"] == nil)
        #expect(try await claims(#""sub":null"#)["sub"] == nil)
        #expect(try await claims(#""sub":[null, "a"]"#)["sub"] == #"[null,"a"]"#)
        #expect(try await claims(#""sub":1.5"#)["sub"] == "1.5")
        #expect(try await claims(#""sub":"u1""#)["role"] == #""admin""#)
    }

    /// The hit path: a token that verified is known without a signature check, until
    /// its `exp`; a refused one is never known.
    @Test func verifiedTokensAreRememberedUntilTheyExpire() async throws {
        let verifier = Self.verifier()
        let token = Self.token(alg: "HS256", Self.good, signed: .hmac(Self.secret))
        #expect(verifier.knownClaims(token[...], now: Self.now) == nil)
        _ = await verifier.verify(token[...], now: Self.now)
        #expect(verifier.knownClaims(token[...], now: Self.now)?["role"] == #""admin""#)
        #expect(verifier.knownClaims(token[...], now: Self.now + .seconds(599)) != nil)
        #expect(verifier.knownClaims(token[...], now: Self.now + .seconds(600)) == nil, "exp passed")
        let forged = Self.token(alg: "HS256", Self.good, signed: .hmac(Self.secret + "x"))
        _ = await verifier.verify(forged[...], now: Self.now)
        #expect(verifier.knownClaims(forged[...], now: Self.now) == nil)
    }

    @Test func aBoundedCacheKeepsWorkingWhenFull() {
        let cache = VerifiedTokens(capacity: 4, shards: 1)
        for i in 0..<20 { cache.remember("t\(i)"[...], claims: ["n": "\(i)"], until: Self.now + .seconds(60), now: Self.now) }
        #expect(cache.claims("t19"[...], now: Self.now)?["n"] == "19", "the newest is kept")
        let kept = (0..<20).filter { cache.claims("t\($0)"[...], now: Self.now) != nil }.count
        #expect(kept <= 4)
    }

    @Test func aKeySetWithAnUnusableKeyFailsItsStart() async {
        let bad = Self.json(["keys": [["kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"], ["kty": "EC", "crv": "P-256"]]])
        let verifier = TokenVerifier(rules: TokenRules(keySet: bad))
        await #expect(throws: TokenKeysError.self) { try await verifier.ready() }
    }
}
