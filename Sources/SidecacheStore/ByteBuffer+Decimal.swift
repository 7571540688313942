import NIOCore

extension ByteBuffer {
    /// A decimal integer without going through String: response heads (status, lengths,
    /// ages) and Redis commands (counts and lengths) write several per request.
    @inlinable
    public mutating func writeDecimal(_ value: some BinaryInteger) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: Self.maxDecimalDigits) { Self.putDecimal(Int64(value), into: $0, at: 0) }
    }

    /// Room a decimal `Int64` can take: a sign and 19 digits.
    public static let maxDecimalDigits = 20

    /// Writes `value` in decimal at `offset` of `out`, which has `maxDecimalDigits` bytes
    /// of room there; returns how many it wrote. For writers that frame a whole message
    /// in one pass (`writeRedisCommand`).
    @inlinable
    public static func putDecimal(_ value: Int64, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var start = offset
        if value < 0 {
            out[start] = UInt8(ascii: "-")
            start += 1
        }
        var rest = value.magnitude
        var digits = 1
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        rest = value.magnitude
        for i in stride(from: start + digits - 1, through: start, by: -1) {
            out[i] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        return start + digits - offset
    }
}
