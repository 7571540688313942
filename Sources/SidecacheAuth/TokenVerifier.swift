#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JWTKit
import SidecacheCore

/// The JWK Set holds a key that cannot be used (no `kid` among several, an unknown
/// key type or curve, bad key material).
public struct TokenKeysError: Error, CustomStringConvertible {
    public let detail: String
    public var description: String { "auth.jwt.jwks: a key cannot be loaded: \(detail)" }
}

/// Verifies JWTs for `key.claims` routes with jwt-kit, and remembers the ones that
/// verified. The algorithm is decided by the key, never by the token alone: HS* tokens
/// are checked only against the secret (one key collection per HS algorithm), every
/// other algorithm only against the JWK Set, `none` never, and the key found must be
/// of exactly the token's `alg` (an RSA key is not an HMAC secret). Registered claims
/// (`exp`, `nbf`, `iss`, `aud`) are checked against the caller's clock.
public final class TokenVerifier: Sendable {
    private let rules: TokenRules
    private let hmac: [String: JWTKeyCollection]
    private let keySet: JWTKeyCollection?
    /// The key ids of the JWK Set: a token naming another is refused, not tried
    /// against a default key.
    private let kids: Set<String>
    /// Adding keys is actor work: it runs once, and every verification waits for it.
    private let loaded: Task<Void, any Error>
    private let verified = VerifiedTokens()

    public init(rules: TokenRules) {
        self.rules = rules
        var hmac: [String: JWTKeyCollection] = [:]
        var pending: [(JWTKeyCollection, DigestAlgorithm)] = []
        if let secret = rules.secret {
            let bytes = secret.utf8.count
            for (alg, digest, minimum) in [("HS256", DigestAlgorithm.sha256, 32), ("HS384", .sha384, 48), ("HS512", .sha512, 64)]
            where bytes >= minimum {
                let keys = JWTKeyCollection()
                hmac[alg] = keys
                pending.append((keys, digest))
            }
        }
        self.hmac = hmac
        let set = Result { try rules.keySet.map { try JSONDecoder().decode(JWKS.self, from: $0) } }
        let keySet = rules.keySet.map { _ in JWTKeyCollection() }
        self.keySet = keySet
        self.kids = Set(((try? set.get())?.keys ?? []).compactMap { $0.keyIdentifier?.string })
        let secret = rules.secret
        loaded = Task {
            for (keys, digest) in pending { await keys.add(hmac: HMACKey(from: secret ?? ""), digestAlgorithm: digest) }
            if let keySet, let jwks = try set.get() {
                for key in jwks.keys { try await keySet.add(jwk: key, isDefault: jwks.keys.count == 1) }
            }
        }
    }

    /// Waits for the keys to be loaded; throws what is wrong with the JWK Set.
    public func ready() async throws {
        do {
            try await loaded.value
        } catch {
            throw TokenKeysError(detail: "\(error)")
        }
    }

    /// The claims of a token that verified before and has not expired (canonical JSON
    /// text per claim), or nil. The hit path: no signature check, no await.
    public func knownClaims(_ token: Substring, now: Timestamp) -> [String: String]? {
        verified.claims(token, now: now)
    }

    /// Verifies `token` and, when it passes, remembers it until `exp` (plus leeway).
    public func verify(_ token: Substring, now: Timestamp) async -> Result<[String: String], TokenRefusal> {
        let bytes = Array(token.utf8)
        let header: JWTHeader
        let payload: TokenClaims
        do {
            (header, payload, _) = try DefaultJWTParser().parse(bytes, as: TokenClaims.self)
        } catch {
            return .failure(.malformed)
        }
        guard Self.readsOneWay(bytes), header.fields["crit"] == nil else { return .failure(.malformed) }
        guard let alg = header.alg, alg.lowercased() != "none" else { return .failure(.algorithm) }
        let keys: JWTKeyCollection
        if alg.hasPrefix("HS") {
            guard let found = hmac[alg] else { return .failure(.unknownKey) }
            keys = found
        } else {
            guard let keySet else { return .failure(.unknownKey) }
            if let kid = header.kid { guard kids.contains(kid) else { return .failure(.unknownKey) } }
            keys = keySet
        }
        do {
            try await loaded.value
            let key: any JWTAlgorithm
            do {
                key = try await keys.getKey(for: header.kid.flatMap { JWKIdentifier(string: $0) }, alg: alg)
            } catch {
                return .failure(.unknownKey)
            }
            guard key.name == alg else { return .failure(.algorithm) }
            _ = try await keys.verify(bytes, as: TokenClaims.self)
        } catch {
            return .failure(.signature)
        }
        switch check(payload.values, now: now) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let until):
            var claims: [String: String] = [:]
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for (name, value) in payload.values where value.isKeyable {
                claims[name] = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
            }
            verified.remember(token, claims: claims, until: until, now: now)
            return .success(claims)
        }
    }

    /// `exp`, `nbf` (within the leeway), `iss` and `aud`; on success, until when the
    /// token may be taken as verified.
    func check(_ claims: [String: ClaimValue], now: Timestamp) -> Result<Timestamp, TokenRefusal> {
        let leeway = rules.leeway.milliseconds
        var until = now + VerifiedTokens.maxAge
        if let exp = claims["exp"] {
            guard let ms = Self.milliseconds(exp) else { return .failure(.malformed) }
            let deadline = Timestamp(milliseconds: ms &+ leeway)
            guard now < deadline else { return .failure(.expired) }
            until = min(until, deadline)
        }
        if let nbf = claims["nbf"] {
            guard let ms = Self.milliseconds(nbf) else { return .failure(.malformed) }
            guard now.milliseconds &+ leeway >= ms else { return .failure(.notYetValid) }
        }
        if let issuer = rules.issuer, claims["iss"] != .string(issuer) { return .failure(.issuer) }
        if let audience = rules.audience {
            switch claims["aud"] {
            case .string(let one)? where one == audience: break
            case .array(let many)? where many.contains(.string(audience)): break
            default: return .failure(.audience)
            }
        }
        return .success(until)
    }

    /// Whether every reader takes the token's header and claims for the same values.
    /// RFC 7519 §4: a parser must refuse claims that name one claim twice, or keep the
    /// last. Foundation's decoder keeps the first, an upstream in JavaScript, Python or
    /// Go the last: `{"role":"admin",…,"role":"user"}` keyed the answer the upstream
    /// made for `user` under `admin`; in the header, `{"alg":"HS256","alg":"none"}`
    /// verified as HS256. And a number past 2^53 with a fraction or exponent
    /// (`9007199254740993.0`) is exact to Foundation but rounded by JavaScript and
    /// Python: keyed as the integer `…993`, the upstream read `…992`.
    private static func readsOneWay(_ token: [UInt8]) -> Bool {
        let parts = token.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let header = base64URLDecoded(parts[0]), let payload = base64URLDecoded(parts[1]) else { return false }
        return DuplicateMembers.paths(in: header).isEmpty && DuplicateMembers.paths(in: payload).isEmpty
            && !JSONNumbers.holdsRoundedInteger(payload)
    }

    private static func base64URLDecoded(_ part: ArraySlice<UInt8>) -> [UInt8]? {
        var base64 = String(decoding: part, as: UTF8.self)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        return Data(base64Encoded: base64).map { Array($0) }
    }

    /// A NumericDate in milliseconds; nil when it is not a number a clock can reach.
    private static func milliseconds(_ value: ClaimValue) -> Int64? {
        guard let seconds = value.seconds, seconds.isFinite, abs(seconds) < 1e12 else { return nil }
        return Int64(seconds * 1000)
    }
}
