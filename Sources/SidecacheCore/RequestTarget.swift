/// A request-target in origin form, split once into path and query, kept byte for byte.
///
/// Nothing is normalised anywhere, so the proxy and the upstream never disagree about
/// which resource a path names. Paths that *would* be normalised by someone downstream
/// (dot-segments, empty segments, an encoded `/`) are flagged as not cacheable instead.
public struct RequestTarget: Sendable, Equatable {
    public var path: Substring
    public var query: Substring?

    public init(path: Substring, query: Substring?) {
        self.path = path
        self.query = query
    }

    /// Splits an origin-form target (`/a/b?x=1`). Returns nil for anything else
    /// (absolute-form, authority-form, `*`), which the caller answers or passes through.
    public init?(_ uri: String) {
        // A fragment never belongs on the wire.
        guard uri.utf8.first == UInt8(ascii: "/"), !uri.containsUTF8Byte(UInt8(ascii: "#")) else { return nil }
        if let q = Self.questionMark(uri) {
            path = uri[..<q]
            query = uri[uri.index(after: q)...]
        } else {
            path = uri[...]
            query = nil
        }
    }

    /// The first `?`, found in place where the bytes are contiguous (every request's
    /// target is split; the UTF-8 view's iterator costs tens of instructions a byte).
    private static func questionMark(_ uri: String) -> String.Index? {
        let bytes = uri.utf8
        guard let offset = bytes.withContiguousStorageIfAvailable({ $0.firstIndex(of: UInt8(ascii: "?")) }) else {
            return bytes.firstIndex(of: UInt8(ascii: "?"))
        }
        return offset.map { bytes.index(bytes.startIndex, offsetBy: $0) }
    }

    /// False for paths with `.`/`..` segments (also percent-encoded), empty segments,
    /// or an encoded slash or backslash: such paths pass through and are never cached.
    public var isCacheSafe: Bool {
        // Every request asks: read the bytes in place where they are contiguous.
        path.utf8.withContiguousStorageIfAvailable { Self.isCacheSafe($0.makeIterator(), length: $0.count) }
            ?? Self.isCacheSafe(path.utf8.makeIterator(), length: path.utf8.count)
    }

    private static func isCacheSafe(_ iterator: some IteratorProtocol<UInt8>, length: Int) -> Bool {
        var segmentStart = true
        var dots = 0        // dots (literal or %2E) in the current segment so far
        var other = false   // anything else in the current segment
        var bytes = iterator
        _ = bytes.next()    // leading "/"
        func endSegment() -> Bool {
            if !other && (dots == 0 || dots == 1 || dots == 2) { return false } // "", ".", ".."
            return true
        }
        while let b = bytes.next() {
            if b == UInt8(ascii: "/") {
                if !endSegment() { return false }
                dots = 0; other = false; segmentStart = true
                continue
            }
            segmentStart = false
            if b == UInt8(ascii: "%") {
                // A malformed escape is read differently by different servers: not cacheable.
                guard let h1 = bytes.next(), let h2 = bytes.next(), isHexDigit(h1), isHexDigit(h2) else { return false }
                let hex = (h1 | 0x20, h2 | 0x20)
                if hex == (UInt8(ascii: "2"), UInt8(ascii: "f")) || hex == (UInt8(ascii: "5"), UInt8(ascii: "c")) { return false }
                if hex == (UInt8(ascii: "2"), UInt8(ascii: "e")) { dots += 1 } else { other = true }
            } else if b == UInt8(ascii: ".") {
                dots += 1
            } else if b == UInt8(ascii: "\\") {
                return false
            } else if b == UInt8(ascii: ";") {
                // Some servers strip ";params" before resolving dot-segments ("/a/..;/b").
                if !other && (dots == 1 || dots == 2) { return false }
                other = true
            } else {
                other = true
            }
        }
        // The last segment: an empty one means a trailing slash, which is fine for "/" alone.
        if segmentStart { return length == 1 }
        return endSegment()
    }
}

func isHexDigit(_ b: UInt8) -> Bool {
    (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || ((b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "f"))
}
