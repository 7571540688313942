/// Parsed `Cache-Control` directives (RFC 9111 §5.2), request or response side.
///
/// Parsing is lenient the way caches must be: unknown directives are ignored,
/// names are case-insensitive, values may be quoted. A delta-seconds that does not
/// parse makes the directive invalid; `maxAge` etc. then hold 0, which errs toward
/// staleness as §4.2.1 asks.
public struct CacheControl: Sendable, Equatable {
    public var noStore = false
    public var noCache = false
    public var isPrivate = false
    public var isPublic = false
    public var mustRevalidate = false
    public var proxyRevalidate = false
    public var onlyIfCached = false
    /// No intermediary may change the representation (RFC 9111 §5.2.2.6): no compression either way.
    public var noTransform = false
    public var maxAge: Int64?
    public var sMaxAge: Int64?
    public var staleWhileRevalidate: Int64?
    public var staleIfError: Int64?
    public var minFresh: Int64?
    /// `max-stale` with no value means any staleness: held as Int64.max.
    public var maxStale: Int64?

    public init() {}

    /// Parses every value of the field, as if joined by commas.
    public init(_ values: [String]) {
        for value in values {
            Self.forEachDirective(value) { name, value in apply(name, value) }
        }
    }

    public var isEmpty: Bool { self == CacheControl() }

    typealias Bytes = Slice<UnsafeBufferPointer<UInt8>>

    private mutating func apply(_ name: Bytes, _ value: Bytes?) {
        if let value, !value.allSatisfy(isDirectiveByte) { applyHiddenRefusals(value) }
        func seconds() -> Int64 { value.flatMap { deltaSeconds(digits: $0) } ?? 0 }
        func named(_ directive: StaticString) -> Bool { equalsLowercase(name, directive) }
        switch name.count {
        case 6 where named("public"): isPublic = true
        case 7 where named("max-age"): maxAge = min(maxAge ?? .max, seconds())
        case 7 where named("private"): isPrivate = true
        case 8 where named("no-store"): noStore = true
        case 8 where named("no-cache"): noCache = true
        case 8 where named("s-maxage"): sMaxAge = min(sMaxAge ?? .max, seconds())
        case 9 where named("max-stale"): maxStale = value == nil ? .max : seconds()
        case 9 where named("min-fresh"): minFresh = seconds()
        case 12 where named("no-transform"): noTransform = true
        case 14 where named("only-if-cached"): onlyIfCached = true
        case 14 where named("stale-if-error"): staleIfError = seconds()
        case 15 where named("must-revalidate"): mustRevalidate = true
        case 16 where named("proxy-revalidate"): proxyRevalidate = true
        case 22 where named("stale-while-revalidate"): staleWhileRevalidate = seconds()
        default:
            if !name.allSatisfy(isDirectiveByte) { applyHiddenRefusals(name) }
            // An extension's value (`x=private`, `ext="no-store"`, `=private`) even when it
            // is a token (one that is not was read above): nginx searches the whole text for
            // the words, and so an upstream tested behind it was never cached.
            if let value, value.allSatisfy(isDirectiveByte) { applyHiddenRefusals(value) }
        }
    }

    /// A name of more than letters, digits and `-` (`private; max-age=60`, `public
    /// private`, `'private'`, `no-store.`: a `;` for a comma, none, or punctuation a
    /// token may hold) or a value of more (`max-age=60 private`; a quoted one too,
    /// which errs toward not storing) hides directives from this parser that nginx and
    /// Varnish, which search the text for the words, still obey. Those that forbid
    /// storing count here too: a cache that missed `private` served one user's answer
    /// to every other.
    private mutating func applyHiddenRefusals(_ text: Bytes) {
        for word in text.split(whereSeparator: { !isDirectiveByte($0) }) {
            switch word.count {
            case 7 where equalsLowercase(word, "private"): isPrivate = true
            case 8 where equalsLowercase(word, "no-store"): noStore = true
            case 8 where equalsLowercase(word, "no-cache"): noCache = true
            default: break
            }
        }
    }

    /// Hands `body` each directive's name (trimmed, as sent; empty only before a value) and value
    /// (trimmed and unquoted; nil without `=`), read in place: every fill and every
    /// revalidation reads the answer's directives, and the delimiters are all ASCII. Only
    /// a quoted value with a backslash escape is copied.
    static func forEachDirective(_ text: String, _ body: (Bytes, Bytes?) -> Void) {
        var text = text
        text.withUTF8 { bytes in
            let comma = UInt8(ascii: ","), equals = UInt8(ascii: "="), quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
            var i = 0
            while i < bytes.count {
                var nameEnd = i
                while nameEnd < bytes.count, bytes[nameEnd] != comma, bytes[nameEnd] != equals { nameEnd += 1 }
                let name = bytes[i..<nameEnd].trimmingOWS()
                i = nameEnd
                var value: Bytes?
                var unescaped: [UInt8]?
                if i < bytes.count, bytes[i] == equals {
                    i += 1
                    if i < bytes.count, bytes[i] == quote {
                        i += 1
                        let start = i
                        while i < bytes.count, bytes[i] != quote {
                            if bytes[i] == backslash, i + 1 < bytes.count {
                                if unescaped == nil { unescaped = Array(bytes[start..<i]) }
                                unescaped!.append(bytes[i + 1])
                                i += 2
                            } else {
                                unescaped?.append(bytes[i])
                                i += 1
                            }
                        }
                        value = bytes[start..<i].trimmingOWS()
                        while i < bytes.count, bytes[i] != comma { i += 1 }
                    } else {
                        let start = i
                        while i < bytes.count, bytes[i] != comma { i += 1 }
                        value = bytes[start..<i].trimmingOWS()
                    }
                }
                if i < bytes.count { i += 1 }   // the comma
                guard !name.isEmpty || value != nil else { continue }
                if let unescaped {
                    unescaped.withUnsafeBufferPointer { body(name, $0[...].trimmingOWS()) }
                } else {
                    body(name, value)
                }
            }
        }
    }
}

/// The bytes of every directive name this parser knows: letters, digits, `-`.
private func isDirectiveByte(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: "-")
}
