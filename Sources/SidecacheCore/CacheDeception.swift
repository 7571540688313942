/// Cache deception through a looser spelling of a more personal route's path.
///
/// Express, ASP.NET Core and Spring route paths case-insensitively by default, and
/// Rails (`(.:format)`) and Spring's suffix matching answer `/api/me.json` as `/api/me`.
/// So `GET /api/Me`, which the exact route `GET /api/me` (keyed by identity) does not
/// take, falls to a wildcard whose entries others share (`shared`, `key.claims`), and
/// its answer — the asker's own — is stored for them. The attacker needs only a link
/// the victim's browser follows. A request whose path, read case-blind and without its
/// last segment's suffix, would be another route's whose entries are shared more
/// narrowly bypasses the cache instead (`unsafe-path`, as a `;` path does); so does a
/// credentialed one below such a route's path (`liesBelowMorePersonalRoute`).
public enum CacheDeception {
    /// Whether `path`, taken by `route`, resembles a path of a route whose answers are
    /// more personal than `route` shares them: read case-blind, and without its
    /// suffix, the first route in the table's order to take it is another, more
    /// personal one. (The first, as the table routes: a catch-all after `route` takes
    /// all its paths too, and says nothing of them.) Only asked on `shared` and
    /// `key.claims` routes: a plain route caches no credentialed request, an identity
    /// route keys it. `post`: a POST read on a `key.body` route, whose routes those are.
    public static func resemblesMorePersonalRoute(_ path: Substring, takenBy route: Route, in routes: RouteTable, post: Bool) -> Bool {
        let plain = path.containsUTF8Byte(UInt8(ascii: "%")) ? PathSpelling.exact.canonical(path) : path
        func morePersonal(_ reading: Substring) -> Bool {
            guard let first = routes.routes.first(where: { (post ? $0.cachesPOST : $0.cachesGET)
                && $0.pattern.path.matches(reading, caseInsensitive: true) }) else { return false }
            return first !== route && route.sharesMoreWidely(than: first)
        }
        let stem = withoutSuffix(plain)
        return morePersonal(plain) || (stem.utf8.count != plain.utf8.count && morePersonal(stem))
    }

    /// Whether `path`, taken by `route`, lies below the path of a route listed before it
    /// whose answers are more personal, where `route`'s own pattern leaves the rest to a
    /// `{param}` or its `*`: PATH_INFO, Express's `app.use`, servlet `/*` mappings and
    /// Go's subtree patterns answer `/api/me/x.css` as `/api/me`, for whoever asks (the
    /// original web cache deception). A rest the route spells out itself
    /// (`/api/users/{id}/avatar` below `/api/users/{id}`) is the operator's own shape,
    /// which no attacker chose. Asked only for requests that carry a credential: an
    /// anonymous one's answer is anonymous whatever path the upstream reads.
    public static func liesBelowMorePersonalRoute(_ path: Substring, takenBy route: Route, in routes: RouteTable, post: Bool) -> Bool {
        guard let own = routes.routes.firstIndex(where: { $0 === route }) else { return false }
        let before = routes.routes[..<own]
        func takes(_ other: Route) -> Bool { post ? other.cachesPOST : other.cachesGET }
        guard before.contains(where: { takes($0) && route.sharesMoreWidely(than: $0) }) else { return false }
        let plain = path.containsUTF8Byte(UInt8(ascii: "%")) ? PathSpelling.exact.canonical(path) : path
        let utf8 = plain.utf8
        var segments = 1
        var i = utf8.index(after: utf8.startIndex)
        while let slash = utf8[i...].firstIndex(of: UInt8(ascii: "/")) {
            // The first `segments` segments are above; the rest must be the route's variables.
            if route.pattern.path.leavesToVariables(after: segments),
               let first = before.first(where: { takes($0) && $0.pattern.path.matches(plain[..<slash], caseInsensitive: true) }),
               route.sharesMoreWidely(than: first) {
                return true
            }
            segments += 1
            i = utf8.index(after: slash)
        }
        return false
    }

    /// `path` without its last segment's suffix: from the first `.` (`/api/me.json` is
    /// `/api/me`), or `~`, `!`, or an escaped NUL, tab, line break or space, which
    /// routers that cut or trim there read as the end of the path; a segment that starts
    /// with one keeps it.
    static func withoutSuffix(_ path: Substring) -> Substring {
        let utf8 = path.utf8
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        let segment = utf8.index(after: slash)
        guard segment < utf8.endIndex else { return path }
        var i = utf8.index(after: segment)
        while i < utf8.endIndex {
            switch utf8[i] {
            case UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "!"):
                return path[..<i]
            case UInt8(ascii: "%"):
                let high = utf8.index(after: i)
                if high < utf8.endIndex, utf8.index(after: high) < utf8.endIndex,
                   let byte = hexValue(utf8[high], utf8[utf8.index(after: high)]), Self.cuts.contains(byte) {
                    return path[..<i]
                }
            default:
                break
            }
            i = utf8.index(after: i)
        }
        return path
    }

    /// Escaped bytes some routers end a path at: NUL, tab, LF, CR, space, `!`.
    private static let cuts: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x20, 0x21]
}

extension Route {
    /// Whether this route hands an entry to requests that `other` would keep apart:
    /// `other` keys by identity, or by claims this route does not, or caches no
    /// credentialed request at all. A route `shared` with everyone keeps nothing apart.
    public func sharesMoreWidely(than other: Route) -> Bool {
        if other.shared && other.claims == nil { return false }
        if let mine = claims, let theirs = other.claims {
            return theirs.from != mine.from || theirs.authority != mine.authority || !theirs.names.allSatisfy(mine.names.contains)
        }
        return true
    }
}
