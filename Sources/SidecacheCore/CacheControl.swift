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
            for item in Self.split(value) { apply(item.name, item.value) }
        }
    }

    public var isEmpty: Bool { self == CacheControl() }

    private mutating func apply(_ name: String, _ value: String?) {
        func seconds() -> Int64 { value.flatMap(deltaSeconds) ?? 0 }
        switch name {
        case "no-store": noStore = true
        case "no-cache": noCache = true
        case "private": isPrivate = true
        case "public": isPublic = true
        case "must-revalidate": mustRevalidate = true
        case "proxy-revalidate": proxyRevalidate = true
        case "only-if-cached": onlyIfCached = true
        case "no-transform": noTransform = true
        case "max-age": maxAge = min(maxAge ?? .max, seconds())
        case "s-maxage": sMaxAge = min(sMaxAge ?? .max, seconds())
        case "stale-while-revalidate": staleWhileRevalidate = seconds()
        case "stale-if-error": staleIfError = seconds()
        case "min-fresh": minFresh = seconds()
        case "max-stale": maxStale = value == nil ? .max : seconds()
        default: break
        }
    }

    /// Splits `a, b=1, c="x, y"` into lowercased names and unquoted values.
    static func split(_ text: String) -> [(name: String, value: String?)] {
        // Byte by byte: every fill and every revalidation reads the answer's directives,
        // and the delimiters are all ASCII.
        let comma = UInt8(ascii: ","), equals = UInt8(ascii: "="), quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var items: [(String, String?)] = []
        var rest = text.utf8[...]
        while !rest.isEmpty {
            let nameEnd = rest.firstIndex { $0 == comma || $0 == equals } ?? rest.endIndex
            let name = String(decoding: rest[..<nameEnd].trimmingSpaces().lazy.map(\.asciiLowercased), as: UTF8.self)
            rest = rest[nameEnd...]
            var value: String?
            if rest.first == equals {
                rest = rest.dropFirst()
                if rest.first == quote {
                    rest = rest.dropFirst()
                    var unquoted: [UInt8] = []
                    while let b = rest.first, b != quote {
                        rest = rest.dropFirst()
                        if b == backslash, let escaped = rest.first {
                            unquoted.append(escaped)
                            rest = rest.dropFirst()
                        } else {
                            unquoted.append(b)
                        }
                    }
                    rest = rest[(rest.firstIndex(of: comma) ?? rest.endIndex)...]
                    value = String(decoding: unquoted, as: UTF8.self).trimmingSpaces()
                } else {
                    let valueEnd = rest.firstIndex(of: comma) ?? rest.endIndex
                    value = String(decoding: rest[..<valueEnd].trimmingSpaces(), as: UTF8.self)
                    rest = rest[valueEnd...]
                }
            }
            if rest.first == comma { rest = rest.dropFirst() }
            if !name.isEmpty { items.append((name, value)) }
        }
        return items
    }
}
