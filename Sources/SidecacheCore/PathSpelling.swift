/// Which spellings of a path name the same resource, for keys and purge scopes.
///
/// Paths are forwarded byte for byte; this only decides which cached entries and
/// purges a path belongs to. Always: percent-encoded unreserved characters are the
/// characters themselves and escape hex digits are case-blind (RFC 3986 §6.2.2.1,
/// §6.2.2.2: `/x/%61bc` is `/x/abc`, `%2f` is `%2F`). Per route, for origins that
/// read paths loosely, a purge through one spelling must reach the others too:
/// `caseInsensitive`, `ignoreTrailingSlash`, `ignoreMatrix` (`;v=1` segment params).
public struct PathSpelling: Sendable, Equatable {
    public var caseInsensitive = false
    public var ignoreTrailingSlash = false
    public var ignoreMatrix = false

    public static let exact = PathSpelling()

    /// Every combination of the switches: the spellings a purge must reach (`PurgeScope.spellings`).
    static let every = [false, true].flatMap { c in
        [false, true].flatMap { t in [false, true].map { m in PathSpelling(caseInsensitive: c, ignoreTrailingSlash: t, ignoreMatrix: m) } }
    }

    public init(caseInsensitive: Bool = false, ignoreTrailingSlash: Bool = false, ignoreMatrix: Bool = false) {
        self.caseInsensitive = caseInsensitive
        self.ignoreTrailingSlash = ignoreTrailingSlash
        self.ignoreMatrix = ignoreMatrix
    }

    /// The one spelling of `path` that keys and purge scopes use. Returns `path` itself
    /// (no allocation) when nothing changes it, which is every plain path on an exact route.
    public func canonical(_ path: Substring) -> Substring {
        guard needsWork(path) else { return path }
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        var bytes = path.utf8.makeIterator()
        var inMatrix = false
        while let b = bytes.next() {
            if b == UInt8(ascii: "/") { inMatrix = false }
            if inMatrix { continue }
            if ignoreMatrix && b == UInt8(ascii: ";") {
                inMatrix = true
                continue
            }
            guard b == UInt8(ascii: "%") else {
                out.append(caseInsensitive ? b.asciiLowercased : b)
                continue
            }
            // Malformed escapes are kept as they are (such paths are never cached anyway).
            guard let h1 = bytes.next() else { out.append(b); break }
            guard let h2 = bytes.next() else { out.append(contentsOf: [b, h1]); break }
            guard let value = hexValue(h1, h2) else {
                out.append(contentsOf: [b, h1, h2])
                continue
            }
            if value.isUnreserved {
                out.append(caseInsensitive ? value.asciiLowercased : value)
            } else {
                out.append(contentsOf: [b, h1.asciiUppercased, h2.asciiUppercased])
            }
        }
        if ignoreTrailingSlash && out.count > 1 && out.last == UInt8(ascii: "/") { out.removeLast() }
        return Substring(decoding: out, as: UTF8.self)
    }

    /// `path` with every character a path may carry either way (all but unreserved ones,
    /// "/", "%", `\` and blanks: sub-delims, ":", "@", `|`, `[`, non-ASCII bytes…) all
    /// raw and all percent-encoded, besides as given: spellings RFC 3986 keeps apart,
    /// which keys keep apart too, but which upstreams read as one resource. A client of
    /// `encodeURIComponent` writes `/users/a%40b.c` for the `/users/a@b.c` another one
    /// wrote; a purge through either must reach both (a write through one left the other
    /// served). Mixed spellings of one path (`a@b%3Ac`) are not reached.
    static func rawAndEncodedSpellings(_ path: String) -> [String] {
        func either(_ b: UInt8) -> Bool {
            b > 0x20 && b != 0x7F && !b.isUnreserved && b != UInt8(ascii: "/") && b != UInt8(ascii: "%") && b != UInt8(ascii: "\\")
        }
        guard path.utf8.contains(where: { $0 == UInt8(ascii: "%") || either($0) }) else { return [path] }
        var raw: [UInt8] = [], encoded: [UInt8] = []
        var bytes = path.utf8[...]
        while let b = bytes.popFirst() {
            var value = b
            var escaped = false
            if b == UInt8(ascii: "%"), bytes.count >= 2, let v = hexValue(bytes[bytes.startIndex], bytes[bytes.index(after: bytes.startIndex)]),
               either(v) {
                bytes = bytes.dropFirst(2)
                value = v
                escaped = true
            }
            guard escaped || either(b) else {
                raw.append(b)
                encoded.append(b)
                continue
            }
            raw.append(value)
            encoded.appendPercentEscape(of: value)
        }
        return [path, String(decoding: raw, as: UTF8.self), String(decoding: encoded, as: UTF8.self)]
    }

    private func needsWork(_ path: Substring) -> Bool {
        if ignoreTrailingSlash && path.utf8.count > 1 && path.utf8.last == UInt8(ascii: "/") { return true }
        // Every route without `paths` (and every request asks twice): only escapes change.
        guard ignoreMatrix || caseInsensitive else { return path.containsUTF8Byte(UInt8(ascii: "%")) }
        return path.containsUTF8Byte { b in
            b == UInt8(ascii: "%") || (ignoreMatrix && b == UInt8(ascii: ";"))
                || (caseInsensitive && b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
        }
    }
}

/// The byte `%h1h2` escapes, or nil when either is not a hex digit.
func hexValue(_ h1: UInt8, _ h2: UInt8) -> UInt8? {
    func nibble(_ h: UInt8) -> UInt8? {
        switch h {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): h - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): h - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): h - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    guard let hi = nibble(h1), let lo = nibble(h2) else { return nil }
    return hi << 4 | lo
}

extension [UInt8] {
    /// `%XY` for `byte`, hex digits in upper case (RFC 3986 §2.1's normal form).
    mutating func appendPercentEscape(of byte: UInt8) {
        func digit(_ n: UInt8) -> UInt8 { n < 10 ? UInt8(ascii: "0") + n : UInt8(ascii: "A") + n - 10 }
        append(contentsOf: [UInt8(ascii: "%"), digit(byte >> 4), digit(byte & 15)])
    }
}

extension UInt8 {
    /// RFC 3986 §2.3: ALPHA, DIGIT, `-`, `.`, `_`, `~`.
    var isUnreserved: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            self == UInt8(ascii: "-") || self == UInt8(ascii: ".") || self == UInt8(ascii: "_") || self == UInt8(ascii: "~")
        }
    }

    var asciiLowercased: UInt8 { self >= UInt8(ascii: "A") && self <= UInt8(ascii: "Z") ? self | 0x20 : self }
    var asciiUppercased: UInt8 { self >= UInt8(ascii: "a") && self <= UInt8(ascii: "z") ? self & ~0x20 : self }
}

extension String {
    /// ASCII letters lowercased, every other byte as it is: hosts are compared this way
    /// (RFC 3986 §6.2.2.1), never with Unicode's folding, which makes `K` of U+212A a `k`.
    var asciiLowercased: String { String(decoding: utf8.map(\.asciiLowercased), as: UTF8.self) }
}
