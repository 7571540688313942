import NIOHTTP1

/// The admin token check. The comparison takes the same time whatever the caller sent
/// (for a given length of the configured token), so timing does not reveal how much of
/// a guess was right.
struct BearerToken: Sendable {
    private let expected: [UInt8]

    init(_ token: String) { expected = Array("Bearer \(token)".utf8) }

    func accepts(_ headers: HTTPHeaders) -> Bool {
        let values = headers["authorization"]
        guard values.count == 1 else { return false }
        return Self.constantTimeEquals(Array(values[0].utf8), expected)
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
