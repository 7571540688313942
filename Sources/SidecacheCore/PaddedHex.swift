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
        var prefix = prefix
        return prefix.withUTF8 { head in
            String(unsafeUninitializedCapacity: head.count + 16) { out in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(head))
                Self.writeHex(self, into: out, at: head.count)
                return head.count + 16
            }
        }
    }

    /// Writes the 16 digits of `value` at `offset`.
    public static func writeHex(_ value: UInt64, into out: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        var v = value
        for i in stride(from: offset + 15, through: offset, by: -1) {
            let nibble = UInt8(truncatingIfNeeded: v & 0xF)
            out[i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            v >>= 4
        }
    }
}
