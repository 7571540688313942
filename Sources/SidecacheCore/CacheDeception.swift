/// Cache deception through a looser spelling of a more personal route's path.
///
/// Express, ASP.NET Core and Spring route paths case-insensitively by default, and
/// Rails (`(.:format)`) and Spring's suffix matching answer `/api/me.json` as `/api/me`.
/// So `GET /api/Me`, which the exact route `GET /api/me` (keyed by identity) does not
/// take, falls to a wildcard whose entries others share (`shared`, `key.claims`), and
/// its answer — the asker's own — is stored for them. The attacker needs only a link
/// the victim's browser follows. A request whose path, read case-blind and without its
/// last segment's extension, would be another route's whose entries are shared more
/// narrowly bypasses the cache instead (`unsafe-path`, as a `;` path does).
public enum CacheDeception {
    /// Whether `path`, taken by `route`, resembles a path of a route whose answers are
    /// more personal than `route` shares them: read case-blind, and without its
    /// extension, the first route in the table's order to take it is another, more
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
        let stem = withoutExtension(plain)
        return morePersonal(plain) || (stem.utf8.count != plain.utf8.count && morePersonal(stem))
    }

    /// `path` without what follows the first dot of its last segment (`/api/me.json` is
    /// `/api/me`); a segment that starts with a dot keeps it.
    static func withoutExtension(_ path: Substring) -> Substring {
        let utf8 = path.utf8
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        let segment = utf8.index(after: slash)
        guard segment < utf8.endIndex, let dot = utf8[utf8.index(after: segment)...].firstIndex(of: UInt8(ascii: ".")) else { return path }
        return path[..<dot]
    }
}

extension Route {
    /// Whether this route hands an entry to requests that `other` would keep apart:
    /// `other` keys by identity, or by claims this route does not, or caches no
    /// credentialed request at all. A route `shared` with everyone keeps nothing apart.
    func sharesMoreWidely(than other: Route) -> Bool {
        if other.shared && other.claims == nil { return false }
        if let mine = claims, let theirs = other.claims {
            return theirs.from != mine.from || theirs.authority != mine.authority || !theirs.names.allSatisfy(mine.names.contains)
        }
        return true
    }
}
