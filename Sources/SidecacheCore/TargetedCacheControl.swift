import RawStructuredFieldValues

extension CacheControl {
    /// RFC 9213 §2.1: a targeted field (`CDN-Cache-Control`, `Sidecache-Cache-Control`) is
    /// a Structured Field Dictionary (RFC 8941, its field lines joined by commas). One
    /// that does not parse is ignored as a whole: nil, and the next field applies. Within
    /// it, a directive whose value has the wrong type is ignored (a max-age that is not a
    /// non-negative Integer, a flag that is not a Boolean) — but not one that forbids
    /// storing: `no-store`, `no-cache` and `private` hold with any value but an explicit
    /// `?0`, and as a parameter of another member (`max-age=60;private`, a `;` for a
    /// comma), as nginx and Varnish, which search for the words, would have them.
    /// `no-cache` and `private` with field names are taken as unqualified (stricter).
    public init?(targeted values: [String]) {
        var parser = StructuredFieldValueParser(Array(values.joined(separator: ", ").utf8))
        guard let dictionary = try? parser.parseDictionaryFieldValue() else { return nil }
        self.init()
        for (name, member) in dictionary {
            let parameters = switch member {
            case .item(let item): item.rfc9651Parameters
            case .innerList(let list): list.rfc9651Parameters
            }
            for (parameter, _) in parameters { refuse(parameter) }
            guard case .item(let item) = member else {
                refuse(name)
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
            // Held to 2^31 as `Cache-Control`'s delta-seconds are (RFC 9111 §1.2.2).
            case ("max-age", .integer(let n)) where n >= 0: maxAge = min(n, deltaSecondsCeiling)
            case ("s-maxage", .integer(let n)) where n >= 0: sMaxAge = min(n, deltaSecondsCeiling)
            case ("stale-while-revalidate", .integer(let n)) where n >= 0: staleWhileRevalidate = min(n, deltaSecondsCeiling)
            case ("stale-if-error", .integer(let n)) where n >= 0: staleIfError = min(n, deltaSecondsCeiling)
            default: refuse(name)
            }
        }
    }

    private mutating func refuse(_ name: String) {
        switch name {
        case "no-store": noStore = true
        case "no-cache": noCache = true
        case "private": isPrivate = true
        default: break
        }
    }
}
