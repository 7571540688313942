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
        var items: [(String, String?)] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            var name = ""
            var value: String?
            while let c = rest.first, c != "," && c != "=" { name.append(c); rest.removeFirst() }
            if rest.first == "=" {
                rest.removeFirst()
                var v = ""
                if rest.first == "\"" {
                    rest.removeFirst()
                    while let c = rest.first, c != "\"" {
                        rest.removeFirst()
                        if c == "\\", let escaped = rest.first { v.append(escaped); rest.removeFirst() } else { v.append(c) }
                    }
                    if !rest.isEmpty { rest.removeFirst() }
                    while let c = rest.first, c != "," { rest.removeFirst() }
                } else {
                    while let c = rest.first, c != "," { v.append(c); rest.removeFirst() }
                }
                value = v.trimmingSpaces()
            }
            if rest.first == "," { rest.removeFirst() }
            let trimmed = name.trimmingSpaces().lowercased()
            if !trimmed.isEmpty { items.append((trimmed, value)) }
        }
        return items
    }
}
