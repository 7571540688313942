import SidecacheCore

/// Rebuilds the final response head from curl's header callback, one line per call,
/// and refuses every head it cannot read exactly.
///
/// curl hands over every head it reads, 1xx interim heads included ("100 Continue",
/// "103 Early Hints"), each ending in a blank line. Each is reported (`.interim`, for the
/// client) and parsing starts over; the head is complete at the blank line of the first
/// head whose status is 200 or more.
///
/// Why strict: a line the proxy skipped could be the one that said `private` or
/// `Set-Cookie`, and a length the proxy read one way while curl read it another
/// desyncs the client. So every line is either understood or the whole answer is an
/// upstream error (RFC 9112 §5, §6.3; nginx answers such upstreams with 502 too).
/// The two forms RFC 9112 lets a proxy repair are repaired, then honoured:
/// obs-fold becomes one space (§5.2), whitespace before the colon is removed (§5.1) —
/// except on `Content-Length` and `Transfer-Encoding`, where curl, which frames the
/// body, does not read `Content-Length : 5` as a length: it read on to the close while
/// the client was told 5, and the bytes after them reached the client as the answer
/// to its next request.
struct ResponseHeadParser {
    enum Outcome: Equatable {
        /// Keep feeding.
        case more
        case head(UpstreamResponseHead)
        /// A complete 1xx head; the final one follows.
        case interim(UpstreamResponseHead)
        /// The answer must not be used: why, for the log and the client's 502.
        case invalid(String)
    }

    /// Larger heads are refused (nginx's default buffer is 4–8 KiB; curl's own cap is 100 KiB).
    static let maxHeadBytes = 64 << 10

    private var status: Int?
    private var reason = ""
    private var headers: [(name: String, value: String)] = []
    private var bytes = 0

    /// Feeds one line, line ending included. The line is read in place, as a plain byte
    /// buffer: every line of every forwarded answer passes here.
    mutating func feed(_ line: UnsafeRawBufferPointer) -> Outcome {
        bytes += line.count
        guard bytes <= Self.maxHeadBytes else { return .invalid("upstream sent a head over \(Self.maxHeadBytes) bytes") }
        var end = line.count
        if end > 0 && line[end - 1] == .lf { end -= 1 }
        if end > 0 && line[end - 1] == .cr { end -= 1 }
        let content = UnsafeRawBufferPointer(rebasing: line[..<end])
        // Nearly every line is printable ASCII, told eight bytes at a time; only the others
        // are looked at byte by byte (controls, obs-text).
        let printable = Self.isPrintableASCII(content)
        if !printable && content.contains(where: { $0 == .cr || $0 == .lf || $0 == 0 }) {
            return .invalid("upstream sent a bare CR, LF or NUL in its head")
        }

        if content.isEmpty { return endOfHead() }
        if status == nil {
            guard let (code, text) = Self.statusLine(content) else { return .invalid("upstream sent a malformed status line") }
            status = code
            reason = text
            headers.reserveCapacity(16)   // a typical head in one allocation, not five
            return .more
        }
        if content[0] == .space || content[0] == .tab {
            // obs-fold: part of the previous field's value.
            guard !headers.isEmpty else { return .invalid("upstream head starts with a folded line") }
            let more = Self.trimmed(content)
            if !more.isEmpty { headers[headers.count - 1].value += " " + FieldText.decode(more) }
            return .more
        }
        guard let header = Self.header(content, printable: printable) else { return .invalid("upstream sent a malformed header line") }
        headers.append(header)
        return .more
    }

    private mutating func endOfHead() -> Outcome {
        defer { self = ResponseHeadParser(bytes: bytes) }
        guard let status else { return .invalid("upstream sent a head without a status line") }
        if let problem = ResponseFraming.problem(in: headers) { return .invalid(problem) }
        let head = UpstreamResponseHead(status: status, reason: reason, headers: headers)
        return status >= 200 ? .head(head) : .interim(head)
    }

    private init(bytes: Int) {
        self.bytes = bytes
    }

    init() {}

    /// "HTTP/1.1 200 OK", "HTTP/1.0 404", "HTTP/1.1 204 ".
    private static func statusLine(_ line: UnsafeRawBufferPointer) -> (Int, String)? {
        guard line.count >= 12, line.starts(with: "HTTP/1.".utf8), line[7] == UInt8(ascii: "0") || line[7] == UInt8(ascii: "1"),
              line[8] == .space, line[9].isDigit, line[10].isDigit, line[11].isDigit else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: line[12...])
        guard rest.isEmpty || rest[0] == .space else { return nil }
        guard !rest.contains(where: isControl) else { return nil }
        let code = line[9...11].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return (code, FieldText.decode(trimmed(rest)))
    }

    /// `name: value`, the name a token (whitespace before the colon removed but for the
    /// framing fields), the value free of control characters other than tab. `printable`:
    /// the line is printable ASCII (`isPrintableASCII`), so its value holds neither.
    private static func header(_ line: UnsafeRawBufferPointer, printable: Bool) -> (name: String, value: String)? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var nameEnd = colon
        while nameEnd > 0 && (line[nameEnd - 1] == .space || line[nameEnd - 1] == .tab) { nameEnd -= 1 }
        let name = UnsafeRawBufferPointer(rebasing: line[..<nameEnd])
        guard !name.isEmpty, isToken(name) else { return nil }
        if nameEnd != colon && (equalsIgnoringCase(name, "content-length") || equalsIgnoringCase(name, "transfer-encoding")) {
            return nil
        }
        let value = trimmed(UnsafeRawBufferPointer(rebasing: line[(colon + 1)...]))
        // ASCII reads as itself (`FieldText.decode`'s own first case).
        if printable { return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)) }
        guard !value.contains(where: isControl) else { return nil }
        return (String(decoding: name, as: UTF8.self), FieldText.decode(value))
    }

    private static func isToken(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes where !byte.isTokenCharacter { return false }
        return true
    }

    /// Whether every byte is 0x20–0x7E: no control character (tab included), DEL or
    /// obs-text. Eight bytes a step: a byte below 0x20 borrows into its high bit, one
    /// from 0x7F up carries into it or has it set (exact for "any", as a borrow or a
    /// carry only ever starts at a byte that is itself one).
    static func isPrintableASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 8 else { return bytes.allSatisfy { $0 >= .space && $0 < 0x7F } }
        func printable(at offset: Int) -> Bool {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let below = (word &- 0x2020_2020_2020_2020) & ~word
            let above = (word &+ 0x0101_0101_0101_0101) | word
            return (below | above) & 0x8080_8080_8080_8080 == 0
        }
        var offset = 0
        while offset + 8 < bytes.count {
            guard printable(at: offset) else { return false }
            offset += 8
        }
        return printable(at: bytes.count - 8)   // the last eight, overlapping those told already
    }

    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        bytes.count == lowercase.utf8CodeUnitCount && zip(bytes, UnsafeBufferPointer(start: lowercase.utf8Start, count: bytes.count)).allSatisfy { $0 | 0x20 == $1 }
    }

    /// Control characters other than tab, and DEL: never in a status line or a field value.
    private static func isControl(_ byte: UInt8) -> Bool { byte < .space && byte != .tab || byte == 0x7F }

    private static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end && (bytes[start] == .space || bytes[start] == .tab) { start += 1 }
        while end > start && (bytes[end - 1] == .space || bytes[end - 1] == .tab) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }
}

extension UpstreamResponseHead: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        a.status == b.status && a.reason == b.reason && a.headers.elementsEqual(b.headers) { $0 == $1 }
    }
}

extension UInt8 {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")

    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }

    /// RFC 9110 §5.6.2 tchar.
    var isTokenCharacter: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
