extension String {
    /// `prefix` followed by `count` bytes that `write` puts at the offset it is given, in
    /// one allocation: the shape of every Redis key name built per lookup.
    init(_ prefix: String, thenDigits count: Int, _ write: (UnsafeMutableBufferPointer<UInt8>, Int) -> Void) {
        var prefix = prefix
        self = prefix.withUTF8 { head in
            String(unsafeUninitializedCapacity: head.count + count) { out in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(head))
                write(out, head.count)
                return head.count + count
            }
        }
    }
}

extension UInt64 {
    /// The 16 lowercase hex digits of the value, zero-padded: Redis key names, scope
    /// ids and request ids. Written in place (one allocation): key names are built on
    /// every Redis lookup.
    public var paddedHex: String {
        String(unsafeUninitializedCapacity: 16) { out in
            Self.writeHex(self, into: out, at: 0)
            return 16
        }
    }

    /// `prefix` followed by `paddedHex`, in one allocation: Redis names a counter per
    /// scope on every lookup.
    public func paddedHex(after prefix: String) -> String {
        String(prefix, thenDigits: 16) { out, at in Self.writeHex(self, into: out, at: at) }
    }

    /// Writes the 16 digits of `value` at `offset`: each half's nibbles spread into a
    /// byte each, turned into digits all at once (a Redis hit names half a dozen keys,
    /// and a digit at a time cost 250 instructions a name).
    public static func writeHex(_ value: UInt64, into out: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        precondition(offset >= 0 && offset + 16 <= out.count)
        let raw = UnsafeMutableRawPointer(out.baseAddress!) + offset
        raw.storeBytes(of: digits(UInt32(truncatingIfNeeded: value >> 32)).bigEndian, as: UInt64.self)
        (raw + 8).storeBytes(of: digits(UInt32(truncatingIfNeeded: value)).bigEndian, as: UInt64.self)
    }

    /// The 8 lowercase hex digits of `half`, the first in the most significant byte.
    @inline(__always)
    private static func digits(_ half: UInt32) -> UInt64 {
        var nibbles = UInt64(half)
        nibbles = (nibbles | nibbles << 16) & 0x0000_FFFF_0000_FFFF
        nibbles = (nibbles | nibbles << 8) & 0x00FF_00FF_00FF_00FF
        nibbles = (nibbles | nibbles << 4) & 0x0F0F_0F0F_0F0F_0F0F
        let letters = (nibbles &+ 0x0606_0606_0606_0606) >> 4 & 0x0101_0101_0101_0101   // 1 where a nibble is 10 or more
        return nibbles &+ 0x3030_3030_3030_3030 &+ letters &* 0x27   // "0" + n, and "a" - "0" - 10 more for a letter
    }
}
