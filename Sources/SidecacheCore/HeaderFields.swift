/// Read access to a message's header fields, so the core can decide on requests
/// and responses without knowing whose header type they are (NIO's, curl's lines,
/// a stored entry's). Names are matched case-insensitively.
public protocol HeaderFields {
    /// The first value of `name`, or nil.
    func first(_ name: String) -> String?
    /// Every value of `name`, in order; comma-joined lists are not split.
    func all(_ name: String) -> [String]
    /// Which of `set`'s names are present, bit `i` for `set.names[i]` (the first 64):
    /// several questions of one request in one pass over its fields.
    func present(_ set: HeaderNameSet) -> UInt64
}

extension HeaderFields {
    public func contains(_ name: String) -> Bool { first(name) != nil }
}

/// An ordered list of header lines, as they arrive from the upstream.
public struct HeaderList: HeaderFields, Sendable, ExpressibleByArrayLiteral {
    public var lines: [(name: String, value: String)]

    public init(_ lines: [(name: String, value: String)] = []) { self.lines = lines }
    public init(arrayLiteral elements: (String, String)...) { self.lines = elements.map { (name: $0.0, value: $0.1) } }

    /// Walks the lines by index: `for line in lines` would copy each line, retaining and
    /// releasing its value, and a fill asks a dozen names of its answer.
    public func first(_ name: String) -> String? {
        for i in lines.indices where lines[i].name.equalsIgnoringASCIICase(name) { return lines[i].value }
        return nil
    }

    /// One pass, and no array at all when no line has the name (the usual answer for
    /// the targeted and conditional fields every fill asks about).
    public func all(_ name: String) -> [String] {
        var values: [String] = []
        for i in lines.indices where lines[i].name.equalsIgnoringASCIICase(name) { values.append(lines[i].value) }
        return values
    }

    public func present(_ set: HeaderNameSet) -> UInt64 {
        lines.indices.reduce(0) { $0 | set.bit(lines[$1].name) }
    }

    public mutating func remove(_ name: String) {
        lines.removeAll { $0.name.equalsIgnoringASCIICase(name) }
    }

    public mutating func replace(_ name: String, with value: String) {
        remove(name)
        lines.append((name: name, value: value))
    }
}

extension String {
    /// ASCII case-insensitive comparison without allocating (header names are ASCII tokens).
    /// Compares the UTF-8 bytes in place: header lookups run this for every line of
    /// every forwarded answer. The lengths are compared where it is called (O(1) for
    /// native strings), and most names differ there: as a call each comparison cost some
    /// 47 instructions, 166 of them a fill.
    @inlinable @inline(__always)
    public func equalsIgnoringASCIICase(_ other: String) -> Bool {
        utf8.count == other.utf8.count && equalsIgnoringASCIICase(sameLength: other)
    }

    @usableFromInline
    func equalsIgnoringASCIICase(sameLength other: String) -> Bool {
        let inPlace = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in asciiCaseInsensitiveEqual(a, b) }
        }
        if let inPlace, let equal = inPlace { return equal }
        return utf8.elementsEqual(other.utf8) { asciiCaseInsensitiveEqual($0, $1) }
    }
}

/// Whether two byte strings of the same length are equal ignoring ASCII case.
@inlinable
func asciiCaseInsensitiveEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    for i in a.indices where !asciiCaseInsensitiveEqual(a[i], b[i]) { return false }
    return true
}

/// `bytes` equal `lowercase` (a lowercase ASCII literal) in any ASCII case: names read
/// in place from heads, field values and directives.
func equalsLowercase(_ bytes: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
    bytes.count == lowercase.utf8CodeUnitCount
        && zip(bytes, UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount))
            .allSatisfy(asciiCaseInsensitiveEqual)
}

extension BidirectionalCollection where Element == UInt8, SubSequence == Self {
    /// Without the spaces and tabs (HTTP's OWS) at either end, in place.
    func trimmingOWS() -> Self {
        var bytes = self
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return bytes
    }
}

@inlinable
func asciiCaseInsensitiveEqual(_ x: UInt8, _ y: UInt8) -> Bool {
    if x == y { return true }
    let lower = x | 0x20
    return lower == y | 0x20 && lower >= 0x61 && lower <= 0x7A
}

/// The fields a message's own `Connection` lists (RFC 9110 §7.6.1), dropped with it.
public struct ConnectionOptions: Sendable {
    /// Lowercased, as listed: nearly every message lists none, or `keep-alive`/`close`.
    private let listed: [String]
    /// The same as a set, once there are more than a few. Only the head's size bounds an
    /// upstream answer's list, and every line is checked against it: 3 500 options over
    /// 3 500 lines held an event loop 1.7 s per answer (the hop-by-hop audit's).
    private let many: Set<String>?

    public static let none = ConnectionOptions(listed: [])

    private init(listed: [String]) {
        self.listed = listed
        many = listed.count > 16 ? Set(listed) : nil
    }

    /// The options of `values` (the `Connection` lines), but `kept` (lowercase): a field
    /// the proxy writes for itself whatever the sender meant by listing it.
    public init(_ values: [String], except kept: String? = nil) {
        guard !values.isEmpty else { self = .none; return }
        self.init(tokens: HopByHop.connectionTokens(values), except: kept)
    }

    /// The options of the `Connection` lines among `lines`, but `kept`. A lone
    /// `keep-alive` or `close` line, nearly every answer's, is read where it is: no array
    /// of the lines' values, no array of options.
    public init(lines: [(name: String, value: String)], except kept: String? = nil) {
        var first: Int?
        var more = false
        for i in lines.indices where lines[i].name.equalsIgnoringASCIICase("connection") {
            if first == nil { first = i } else { more = true; break }
        }
        guard let first else { self = .none; return }
        if !more, let lone = HopByHop.loneTokens(lines[first].value) {
            self.init(tokens: lone, except: kept)
        } else {
            self.init(HeaderList(lines).all("connection"), except: kept)
        }
    }

    /// Filtered only when `kept` is listed: a lone `keep-alive` stays the shared array.
    private init(tokens: [String], except kept: String?) {
        self.init(listed: kept.map { kept in tokens.contains(kept) ? tokens.filter { $0 != kept } : tokens } ?? tokens)
    }

    public func lists(_ name: String) -> Bool {
        if listed.isEmpty { return false }
        if let many { return many.contains(name.lowercased()) }
        return listed.contains { name.equalsIgnoringASCIICase($0) }
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded either way.
public enum HopByHop {
    public static let names: HeaderNameSet = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-authorization", "proxy-authenticate",
    ]

    private static let keepAlive = ["keep-alive"]
    private static let close = ["close"]

    /// True when `name` is hop-by-hop, either by definition or because the message's own
    /// `Connection` header lists it. Allocates nothing for a message listing a few.
    public static func contains(_ name: String, listed: ConnectionOptions = .none) -> Bool {
        names.contains(name) || listed.lists(name)
    }

    /// The tokens of a `Connection` value that is a lone `keep-alive` or `close`, as
    /// shared arrays; nil for any other value.
    static func loneTokens(_ value: String) -> [String]? {
        if value.equalsIgnoringASCIICase("keep-alive") { return keepAlive }
        if value.equalsIgnoringASCIICase("close") { return close }
        return nil
    }

    /// Tokens listed in `Connection` header values, lowercased.
    public static func connectionTokens(_ values: [String]) -> [String] {
        // Nearly every Connection field is a lone `keep-alive` or `close`: no splitting
        // and no new strings for those.
        if values.count == 1, let lone = loneTokens(values[0]) { return lone }
        return values.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpaces().lowercased() }
            .filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    /// Whether any UTF-8 byte matches, read in place where the bytes are contiguous:
    /// paths, hosts and field values are checked several times on every request, and
    /// the UTF-8 view's iterator costs tens of instructions a byte.
    @inlinable
    public func containsUTF8Byte(where matches: (UInt8) -> Bool) -> Bool {
        utf8.withContiguousStorageIfAvailable { $0.contains(where: matches) } ?? utf8.contains(where: matches)
    }

    /// The first UTF-8 byte, read in place (the view's own `first` is some twenty
    /// instructions; every request's target and Host ask).
    @inlinable
    public var firstUTF8Byte: UInt8? {
        utf8.withContiguousStorageIfAvailable { $0.first } ?? utf8.first
    }

    /// Whether the UTF-8 bytes hold `byte`, compared in place without a closure call a byte.
    @inlinable
    public func containsUTF8Byte(_ byte: UInt8) -> Bool {
        utf8.withContiguousStorageIfAvailable { $0.contains(byte) } ?? utf8.contains(byte)
    }

    /// Trims spaces and horizontal tabs (HTTP's OWS), nothing else. Most values have
    /// none at either end (the upstream head parser trims already) and are returned as
    /// they are: the trim through `Substring`'s Characters cost a forwarded answer's
    /// `Content-Length` some 950 instructions.
    public func trimmingSpaces() -> String {
        func ows(_ byte: UInt8?) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let untrimmed = utf8.withContiguousStorageIfAvailable { !ows($0.first) && !ows($0.last) }
        if untrimmed == true { return String(self) }
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}

extension Substring.UTF8View {
    /// Without leading and trailing spaces and horizontal tabs, in place.
    func trimmingSpaces() -> Substring.UTF8View {
        func ows(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var bytes = self
        while let first = bytes.first, ows(first) { bytes = bytes.dropFirst() }
        while let last = bytes.last, ows(last) { bytes = bytes.dropLast() }
        return bytes
    }
}

/// A field name (RFC 9110 §5.1: a token of tchar).
public func isFieldName(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.allSatisfy { b in
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

/// A field name the proxy takes from a client: a token without `_`. CGI, WSGI and Rack
/// servers read `X_Api_Key` as `X-Api-Key` (both become `HTTP_X_API_KEY`), so a name
/// with `_` would reach the upstream as a credential or keyed header that no check
/// here recognised. Requests lose such fields (as nginx's `underscores_in_headers off`),
/// and the config refuses them where it names request headers.
public func isRequestFieldName(_ s: String) -> Bool {
    isFieldName(s) && !s.containsUTF8Byte(UInt8(ascii: "_"))
}

/// Fields the proxy sets itself, or that never cross it (hop-by-hop, framing, `Host`).
private let notForOperators: HeaderNameSet = ["host", "content-length", "expect"]

/// A header the operator sends with warm and refresh requests (`warm[].headers`, admin
/// `/refresh`): a request field name that reaches the upstream as given. Not `Host`
/// (they have their own `host`), not framing, and not hop-by-hop: `Connection:
/// Authorization` stripped the credential on its way upstream while the key held it,
/// and the anonymous answer was stored under that user's key.
public func isOperatorRequestFieldName(_ s: String) -> Bool {
    isRequestFieldName(s) && !HopByHop.names.contains(s) && !notForOperators.contains(s)
}

/// Why `name` cannot name a request header (`isRequestFieldName` is false), for config errors.
public func notARequestFieldName(_ name: String) -> String {
    isFieldName(name) ? "\"\(name)\": header names with _ are dropped from requests (CGI-style servers read them as -); use -"
        : "\"\(name)\" is not a header name"
}

/// A `Host` value (RFC 9110 §7.2: `uri-host [ ":" port ]`): a reg-name or an IP
/// literal in brackets, then a port of digits. Nothing else reaches a key: Unicode case
/// folding maps the Kelvin sign to `k`, which made `\u{212A}v.local` and `kv.local`
/// one key while the upstream saw two hosts, and `a:1:2` or `a]:1` named a host the
/// upstream read another way (nginx answers both 400). Not empty, nor a port alone:
/// an `http` URI has a host (RFC 9110 §4.2.1).
public func isHostFieldValue(_ s: String) -> Bool {
    var s = s
    return s.withUTF8 { bytes in
        guard let first = bytes.first, first != UInt8(ascii: ":") else { return false }
        var i = 0
        if first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), isIPLiteral(UnsafeBufferPointer(rebasing: bytes[1..<close])) else {
                return false
            }
            i = close + 1
        } else {
            while i < bytes.count && bytes[i] != UInt8(ascii: ":") {
                guard isHostByte(bytes[i]) else { return false }
                i += 1
            }
        }
        guard i < bytes.count else { return true }
        // A port: digits, at most 65535 (`a:` is allowed, RFC 3986 §3.2.3). One pass:
        // every request's Host has one.
        guard bytes[i] == UInt8(ascii: ":") else { return false }
        var port = 0
        for byte in bytes[(i + 1)...] {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return false }
            port = port * 10 + Int(digit)
            guard port <= 65535 else { return false }
        }
        return true
    }
}

/// What is inside an IP literal's brackets (RFC 3986 §3.2.2): an IPv6 address (hex
/// digits, colons, a dotted IPv4 tail) or `v` hex `.` then reg-name bytes or colons.
private func isIPLiteral(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let first = bytes.first else { return false }
    if first | 0x20 == UInt8(ascii: "v") {
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")), dot > 1, dot < bytes.count - 1 else { return false }
        return bytes[1..<dot].allSatisfy(isHexDigit) && bytes[(dot + 1)...].allSatisfy { isHostByte($0) || $0 == UInt8(ascii: ":") }
    }
    return bytes.lazy.filter({ $0 == UInt8(ascii: ":") }).count >= 2
        && bytes.allSatisfy { isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
}

/// A byte of a reg-name (RFC 3986 §3.2.2: unreserved, pct-encoded, sub-delims). A switch,
/// not a search of the allowed characters per byte: every request's Host.
private func isHostByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
         UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: "!"),
         UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
         UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
        true
    default:
        false
    }
}

/// Field values that must never be forwarded: CR, LF or NUL inside would split or end a header.
public func isSafeFieldValue(_ value: String) -> Bool {
    !value.containsUTF8Byte { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
}
