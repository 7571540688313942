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
    /// phrase and the header lines without `Content-Length`.
    public static func parseHead(_ head: ByteBuffer) -> (reason: String, lines: [(name: String, value: String)]) {
        let text = String(buffer: head)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
        let statusLine = lines.isEmpty ? "" : lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        let reason = parts.count > 2 ? String(parts[2]) : ""
        let fields: [(name: String, value: String)] = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = String(line[..<colon])
            if name.equalsIgnoringASCIICase("content-length") { return nil }
            return (name: name, value: line[line.index(after: colon)...].trimmingSpaces())
        }
        return (reason, fields)
    }
}
