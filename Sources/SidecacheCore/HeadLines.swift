import Glibc

/// The CRLF-ended lines of a pre-encoded head, read in place. An empty line (which
/// would end the head early), a bare CR or LF, a NUL or a last line without CRLF stops
/// it and sets `malformed`.
struct HeadLines {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    var malformed = false

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Three `memchr`s a line instead of a test per byte: a Redis hit reads its stored
    /// head twice (framing check, decoded head), about 300 bytes each time.
    mutating func next() -> UnsafeRawBufferPointer.SubSequence? {
        guard !malformed, offset < bytes.count, let base = bytes.baseAddress else { return nil }
        let start = base + offset
        guard let cr = memchr(start, 0x0D, bytes.count - offset) else {
            malformed = true
            return nil
        }
        let end = base.distance(to: UnsafeRawPointer(cr))
        guard end > offset, end + 1 < bytes.count, bytes[end + 1] == 0x0A,
              memchr(start, 0x0A, end - offset) == nil, memchr(start, 0, end - offset) == nil else {
            malformed = true
            return nil
        }
        defer { offset = end + 2 }
        return bytes[offset..<end]
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
}
