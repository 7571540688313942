/// Read access to a message's header fields, so the core can decide on requests
/// and responses without knowing whose header type they are (NIO's, curl's lines,
/// a stored entry's). Names are matched case-insensitively.
public protocol HeaderFields {
    /// The first value of `name`, or nil.
    func first(_ name: String) -> String?
    /// Every value of `name`, in order; comma-joined lists are not split.
    func all(_ name: String) -> [String]
}

extension HeaderFields {
    public func contains(_ name: String) -> Bool { first(name) != nil }
}

/// An ordered list of header lines, as they arrive from the upstream.
public struct HeaderList: HeaderFields, Sendable, ExpressibleByArrayLiteral {
    public var lines: [(name: String, value: String)]

    public init(_ lines: [(name: String, value: String)] = []) { self.lines = lines }
    public init(arrayLiteral elements: (String, String)...) { self.lines = elements.map { (name: $0.0, value: $0.1) } }

    public func first(_ name: String) -> String? {
        for line in lines where line.name.equalsIgnoringASCIICase(name) { return line.value }
        return nil
    }

    public func all(_ name: String) -> [String] {
        lines.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
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
    @inlinable
    public func equalsIgnoringASCIICase(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }   // O(1) for native strings
        var a = self.utf8.makeIterator()
        var b = other.utf8.makeIterator()
        while true {
            switch (a.next(), b.next()) {
            case (nil, nil): return true
            case let (x?, y?):
                if x != y && (x | 0x20) != (y | 0x20) { return false }
                if x != y && !((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A) { return false }
            default: return false
            }
        }
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded either way.
public enum HopByHop {
    public static let names: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-authorization", "proxy-authenticate",
    ]

    /// True when `name` is hop-by-hop, either by definition or because the message's own
    /// `Connection` header lists it (`connectionTokens`, lowercased). Allocates nothing.
    public static func contains(_ name: String, connectionTokens: [String] = []) -> Bool {
        name.isOne(of: names) || name.isOne(of: connectionTokens)
    }

    /// Tokens listed in `Connection` header values, lowercased.
    public static func connectionTokens(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpaces().lowercased() }
            .filter { !$0.isEmpty }
    }
}

extension String {
    /// Whether this header name equals one of `lowercasedNames`, ignoring ASCII case.
    @inlinable
    public func isOne(of lowercasedNames: [String]) -> Bool {
        lowercasedNames.contains { equalsIgnoringASCIICase($0) }
    }
}

extension StringProtocol {
    /// Trims spaces and horizontal tabs (HTTP's OWS), nothing else.
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}

/// A field name (RFC 9110 §5.1: a token of tchar).
public func isFieldName(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.allSatisfy { b in
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

/// Field values that must never be forwarded: CR, LF or NUL inside would split or end a header.
public func isSafeFieldValue(_ value: String) -> Bool {
    !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
}
