import JWTKit

/// A token's payload: every claim, kept as JSON values so any claim can be keyed on.
/// Registered claims are checked by `TokenVerifier`, with its clock, not here.
struct TokenClaims: JWTPayload {
    let values: [String: ClaimValue]

    init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: ClaimValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// One JSON value of a claim.
indirect enum ClaimValue: Codable, Sendable, Equatable {
    case string(String)
    case integer(Int64)
    /// Above `Int64.max`: 64-bit ids (snowflakes and the like) kept exact.
    case unsigned(UInt64)
    case number(Double)
    case bool(Bool)
    case null
    case array([ClaimValue])
    case object([String: ClaimValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int64.self) { self = .integer(v) }
        else if let v = try? c.decode(UInt64.self) { self = .unsigned(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([ClaimValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: ClaimValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .integer(let v): try c.encode(v)
        case .unsigned(let v): try c.encode(v)
        case .number(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .null: try c.encodeNil()
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }

    /// A NumericDate (RFC 7519 §2) in seconds, when this is a number.
    var seconds: Double? {
        switch self {
        case .integer(let v): Double(v)
        case .unsigned(let v): Double(v)
        case .number(let v): v
        default: nil
        }
    }

    /// Whether the value can tell its holders apart in a key. A `null` claim is a
    /// missing one (DESIGN: a token that lacks a listed claim bypasses), and a number
    /// held as a Double beyond 2^53 may stand for several (`12345678901234567890123`
    /// and `…124` are one Double): their users would share entries.
    var isKeyable: Bool {
        switch self {
        case .null: false
        case .number(let v): v.isFinite && abs(v) < 0x1p53
        case .array(let items): items.allSatisfy { $0 == .null || $0.isKeyable }
        case .object(let members): members.values.allSatisfy { $0 == .null || $0.isKeyable }
        case .string, .integer, .unsigned, .bool: true
        }
    }
}
