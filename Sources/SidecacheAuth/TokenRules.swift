#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What makes a token acceptable: its keys and the registered claims it must carry.
/// The auth part's own options, so it needs nothing of the config loader.
public struct TokenRules: Sendable {
    /// Verifies HS256 (and HS384/HS512 when at least 48/64 bytes long).
    public var secret: String?
    /// A JWK Set (JSON) for RS*, PS*, ES* and EdDSA.
    public var keySet: Data?
    public var issuer: String?
    public var audience: String?
    /// Allowed clock difference for `exp` and `nbf`.
    public var leeway: Duration

    public init(secret: String? = nil, keySet: Data? = nil, issuer: String? = nil, audience: String? = nil, leeway: Duration = .zero) {
        self.secret = secret
        self.keySet = keySet
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
    }
}

/// Why a token was not accepted. Never carries the token or its claims.
public enum TokenRefusal: String, Sendable, Error, CaseIterable {
    /// Not three base64url parts with JSON inside.
    case malformed
    /// `alg` missing, `none`, or not the algorithm of the key it names.
    case algorithm
    /// No key for it: an HS* token without a secret long enough, an unknown `kid`.
    case unknownKey = "unknown-key"
    case signature
    case expired
    case notYetValid = "not-yet-valid"
    case issuer
    case audience
}
