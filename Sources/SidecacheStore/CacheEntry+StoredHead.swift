import NIOCore
import SidecacheCore

extension CacheEntry {
    /// The stored status line and header lines, parsed back from the pre-encoded head
    /// (without the framing `Content-Length`). Rare paths only: 304s and revalidation.
    public func storedHead() -> (status: Int, reason: String, lines: [(name: String, value: String)]) {
        let parsed = Self.parseHead(head)
        return (status, parsed.reason, parsed.lines)
    }

    /// A pre-encoded head (an entry's, or its decoded form's) parsed back: the reason
    /// phrase and the header lines without `Content-Length`. Values and the reason are
    /// read as `FieldText`, so that obs-text written back (a 304's refresh of the head)
    /// is the bytes the upstream sent.
    public static func parseHead(_ head: ByteBuffer) -> (reason: String, lines: [(name: String, value: String)]) {
        head.withUnsafeReadableBytes { bytes in
            var lines: [UnsafeRawBufferPointer.SubSequence] = []
            var start = 0
            while start < bytes.count {
                var end = start
                while end + 1 < bytes.count && !(bytes[end] == 0x0D && bytes[end + 1] == 0x0A) { end += 1 }
                if end + 1 >= bytes.count { end = bytes.count }
                if end > start { lines.append(bytes[start..<end]) }
                start = end + 2
            }
            guard !lines.isEmpty else { return ("", []) }
            let parts = lines.removeFirst().split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
            let reason = parts.count > 2 ? FieldText.decode(UnsafeRawBufferPointer(rebasing: parts[2])) : ""
            let fields: [(name: String, value: String)] = lines.compactMap { line in
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
                let name = String(decoding: line[..<colon], as: UTF8.self)
                if name.equalsIgnoringASCIICase("content-length") { return nil }
                var value = line[(colon + 1)...]
                while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
                while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
                return (name: name, value: FieldText.decode(UnsafeRawBufferPointer(rebasing: value)))
            }
            return (reason, fields)
        }
    }
}
