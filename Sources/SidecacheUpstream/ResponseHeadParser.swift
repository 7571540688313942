/// Rebuilds the final response head from curl's header callback, one line per call.
///
/// curl hands over every head it reads, 1xx interim heads included ("100 Continue",
/// "103 Early Hints"), each ending in a blank line. Those are dropped and parsing
/// starts over; the head is complete at the blank line of the first head whose
/// status is 200 or more.
struct ResponseHeadParser {
    private var status: Int?
    private var reason = ""
    private var headers: [(name: String, value: String)] = []

    /// Feeds one line, line ending included. Returns the head when `line` is the
    /// blank line that ends a final head.
    mutating func feed(_ line: UnsafeRawBufferPointer) -> UpstreamResponseHead? {
        var bytes = line[...]
        while let last = bytes.last, last == .lf || last == .cr { bytes = bytes.dropLast() }

        if bytes.isEmpty {
            defer { self = ResponseHeadParser() }
            guard let status, status >= 200 else { return nil }
            return UpstreamResponseHead(status: status, reason: reason, headers: headers)
        }
        if bytes.starts(with: "HTTP/".utf8) {
            self = ResponseHeadParser()
            parseStatusLine(bytes)
        } else if status != nil, let header = Self.header(bytes) {
            headers.append(header)
        }
        return nil
    }

    /// "HTTP/1.1 200 OK", "HTTP/1.0 404", "HTTP/1.1 204 ". A malformed line leaves
    /// `status` nil, so no head is delivered and the transfer fails at its end.
    private mutating func parseStatusLine(_ line: Slice<UnsafeRawBufferPointer>) {
        guard let space = line.firstIndex(of: .space) else { return }
        let afterVersion = line[(space + 1)...]
        let digits = afterVersion.prefix(3)
        guard digits.count == 3, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return }
        let rest = afterVersion.dropFirst(3)
        guard rest.isEmpty || rest.first == .space else { return }
        status = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        reason = String(decoding: Self.trimmed(rest), as: UTF8.self)
    }

    /// `name: value`; nil for anything else, and for lines containing NUL.
    private static func header(_ line: Slice<UnsafeRawBufferPointer>) -> (name: String, value: String)? {
        guard !line.contains(0), let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let name = line[..<colon]
        // Names are tokens: a space or tab means an obsolete folded line or garbage.
        guard !name.isEmpty, !name.contains(where: { $0 <= .space || $0 == 0x7F }) else { return nil }
        let value = trimmed(line[(colon + 1)...])
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var bytes = bytes
        while let first = bytes.first, first == .space || first == .tab { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == .space || last == .tab { bytes = bytes.dropLast() }
        return bytes
    }
}

extension UInt8 {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
}
