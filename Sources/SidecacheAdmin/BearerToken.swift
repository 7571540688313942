import Foundation
import NIOHTTP1

/// The admin token check. The comparison takes the same time whatever the caller sent
/// (for a given length of the configured token), so timing does not reveal how much of
/// a guess was right.
struct BearerToken: Sendable {
    private let token: [UInt8]

    init(_ token: String) {
        self.token = Array(token.utf8)
    }

    /// `Authorization: Bearer <token>`; with `basic`, also HTTP Basic with the token as
    /// the password (any user name): what a browser sends after its login prompt.
    func accepts(_ headers: HTTPHeaders, basic: Bool = false) -> Bool {
        let values = headers["authorization"]
        guard values.count == 1 else { return false }
        if basic, let password = Self.basicPassword(values[0]) { return Self.constantTimeEquals(password, token) }
        guard let given = Self.bearerCredential(values[0]) else { return false }
        return Self.constantTimeEquals(given, token)
    }

    /// The token of a `Bearer` credential: the scheme in any case, then one or more
    /// spaces (RFC 9110 §11.4, §11.1). `bearer <token>` was refused.
    static func bearerCredential(_ value: String) -> [UInt8]? {
        let bytes = Array(value.utf8)
        guard bytes.count > 7, String(decoding: bytes[..<6], as: UTF8.self).lowercased() == "bearer",
              bytes[6] == UInt8(ascii: " ") else { return nil }
        return Array(bytes[6...].drop { $0 == UInt8(ascii: " ") })
    }

    /// The password of a `Basic` credential (RFC 7617), nil when it is not one.
    private static func basicPassword(_ value: String) -> [UInt8]? {
        guard value.count > 6, value.prefix(6).lowercased() == "basic " else { return nil }
        guard let decoded = Data(base64Encoded: String(value.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return Array(decoded[decoded.index(after: colon)...])
    }

    /// Every byte of `expected` is compared whatever `given` holds; a length mismatch
    /// is folded into the same accumulator instead of returning early.
    static func constantTimeEquals(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt(given.count ^ expected.count)
        for i in expected.indices {
            let g = i < given.count ? given[i] : 0
            difference |= UInt(g ^ expected[i])
        }
        return difference == 0
    }
}
