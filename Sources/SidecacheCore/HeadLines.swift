/// The CRLF-ended lines of a pre-encoded head, read in place. An empty line (which
/// would end the head early), a bare CR or LF, a NUL or a last line without CRLF stops
/// it and sets `malformed`.
struct HeadLines {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    var malformed = false

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func next() -> UnsafeRawBufferPointer.SubSequence? {
        guard !malformed, offset < bytes.count else { return nil }
        var i = offset
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\r"):
                guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\n"), i > offset else {
                    malformed = true
                    return nil
                }
                defer { offset = i + 2 }
                return bytes[offset..<i]
            case UInt8(ascii: "\n"), 0:
                malformed = true
                return nil
            default:
                i += 1
            }
        }
        malformed = true
        return nil
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    /// `bytes` equal `lowercase` in any ASCII case.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer.SubSequence, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return zip(bytes, UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount))
            .allSatisfy { ($0 | 0x20) == $1 || $0 == $1 }
    }
}
