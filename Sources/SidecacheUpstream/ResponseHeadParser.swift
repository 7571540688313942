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
/// obs-fold becomes one space (§5.2), whitespace before the colon is removed (§5.1).
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

    /// Feeds one line, line ending included.
    mutating func feed(_ line: UnsafeRawBufferPointer) -> Outcome {
        bytes += line.count
        guard bytes <= Self.maxHeadBytes else { return .invalid("upstream sent a head over \(Self.maxHeadBytes) bytes") }
        var content = line[...]
        if content.last == .lf { content = content.dropLast() }
        if content.last == .cr { content = content.dropLast() }
        if content.contains(where: { $0 == .cr || $0 == .lf || $0 == 0 }) {
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
        if content.first == .space || content.first == .tab {
            // obs-fold: part of the previous field's value.
            guard !headers.isEmpty else { return .invalid("upstream head starts with a folded line") }
            let more = Self.trimmed(content)
            if !more.isEmpty { headers[headers.count - 1].value += " " + String(decoding: more, as: UTF8.self) }
            return .more
        }
        guard let header = Self.header(content) else { return .invalid("upstream sent a malformed header line") }
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
    private static func statusLine(_ line: Slice<UnsafeRawBufferPointer>) -> (Int, String)? {
        guard line.starts(with: "HTTP/1.".utf8), line.count >= 12 else { return nil }
        let afterVersion = line.dropFirst(8)
        guard let minor = line.dropFirst(7).first, minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1"),
              afterVersion.first == .space else { return nil }
        let digits = afterVersion.dropFirst().prefix(3)
        guard digits.count == 3, digits.allSatisfy(\.isDigit) else { return nil }
        let rest = afterVersion.dropFirst(4)
        guard rest.isEmpty || rest.first == .space else { return nil }
        guard !rest.contains(where: { $0 < .space && $0 != .tab || $0 == 0x7F }) else { return nil }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return (code, String(decoding: trimmed(rest), as: UTF8.self))
    }

    /// `name: value`, the name a token (whitespace before the colon removed), the value
    /// free of control characters other than tab.
    private static func header(_ line: Slice<UnsafeRawBufferPointer>) -> (name: String, value: String)? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var name = line[..<colon]
        while let last = name.last, last == .space || last == .tab { name = name.dropLast() }
        guard !name.isEmpty, name.allSatisfy(\.isTokenCharacter) else { return nil }
        let value = trimmed(line[(colon + 1)...])
        guard !value.contains(where: { $0 < .space && $0 != .tab || $0 == 0x7F }) else { return nil }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var bytes = bytes
        while let first = bytes.first, first == .space || first == .tab { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == .space || last == .tab { bytes = bytes.dropLast() }
        return bytes
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
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(self)
        }
    }
}
