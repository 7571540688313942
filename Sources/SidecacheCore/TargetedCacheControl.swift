import RawStructuredFieldValues

extension CacheControl {
    /// RFC 9213 §2.1: a targeted field (`CDN-Cache-Control`, `Sidecache-Cache-Control`) is
    /// a Structured Field Dictionary (RFC 8941, its field lines joined by commas). One
    /// that does not parse is ignored as a whole: nil, and the next field applies. Within
    /// it, a directive whose value has the wrong type is ignored (a max-age that is not a
    /// non-negative Integer, a flag that is not a Boolean); `no-cache` and `private` with
    /// field names are taken as unqualified (stricter).
    public init?(targeted values: [String]) {
        var parser = StructuredFieldValueParser(Array(values.joined(separator: ", ").utf8))
        guard let dictionary = try? parser.parseDictionaryFieldValue() else { return nil }
        self.init()
        for (name, member) in dictionary {
            guard case .item(let item) = member else {
                if name == "no-cache" { noCache = true }
                if name == "private" { isPrivate = true }
                continue
            }
            // `rfc9651BareItem`, never the deprecated `bareItem`: its getter traps (`try!`)
            // on the Date and Display String types the parser produces for `@1` and
            // `%"x"`, and one such upstream field stopped the process on every fill.
            switch (name, item.rfc9651BareItem) {
            case ("no-store", .bool(let on)): noStore = on
            case ("no-cache", .bool(let on)): noCache = on
            case ("no-cache", .string), ("no-cache", .token): noCache = true
            case ("private", .bool(let on)): isPrivate = on
            case ("private", .string), ("private", .token): isPrivate = true
            case ("public", .bool(let on)): isPublic = on
            case ("must-revalidate", .bool(let on)): mustRevalidate = on
            case ("proxy-revalidate", .bool(let on)): proxyRevalidate = on
            case ("no-transform", .bool(let on)): noTransform = on
            case ("max-age", .integer(let n)) where n >= 0: maxAge = n
            case ("s-maxage", .integer(let n)) where n >= 0: sMaxAge = n
            case ("stale-while-revalidate", .integer(let n)) where n >= 0: staleWhileRevalidate = n
            case ("stale-if-error", .integer(let n)) where n >= 0: staleIfError = n
            default: break
            }
        }
    }
}
