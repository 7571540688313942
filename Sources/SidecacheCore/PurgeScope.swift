/// A set of cached entries one purge names. Purges never enumerate entries: each scope
/// is a counter that entries remember, so a purge costs the same however much it hits.
public enum PurgeScope: Hashable, Sendable, CustomStringConvertible {
    /// Every variant of one path: all queries, hosts, identities, header variants.
    case path(String)
    /// Every path that starts with this prefix, which ends in "/".
    case subtree(String)
    case route(String)
    case tag(String)
    case all

    public var description: String {
        switch self {
        case .path(let p): "path \(p)"
        case .subtree(let p): "subtree \(p)*"
        case .route(let r): "route \(r)"
        case .tag(let t): "tag \(t)"
        case .all: "all"
        }
    }

    /// A stable 64-bit id (FNV-1a over a kind byte and the text). Two scopes sharing an id
    /// only purge more than asked, never less, so collisions are safe.
    public var id: UInt64 {
        switch self {
        case .path(let p): Self.fnv(1, p)
        case .subtree(let p): Self.fnv(2, Self.withinDepth(p))
        case .route(let r): Self.fnv(3, r)
        case .tag(let t): Self.fnv(4, t)
        case .all: Self.fnv(5, "")
        }
    }

    /// What a purge of this scope (as requested, in no route's spelling yet) must
    /// reach: the scope in every spelling a route can give a path (each of `paths`'
    /// switches on and off; duplicates dropped). Entries
    /// keep the spelling of the route that filled them, which need not be the route
    /// that matches now: entries from before a reload (met again after a rollback),
    /// from an instance on another config sharing Redis, or under a subtree whose
    /// prefix the routes below it spell differently. Purged in one spelling only, the
    /// others were served on. And each of those with its reserved characters raw and
    /// percent-encoded (`PathSpelling.rawAndEncodedSpellings`). Two spellings for most paths,
    /// at most twenty-four.
    public var spellings: [PurgeScope] {
        switch self {
        case .path(let path):
            PathSpelling.every.flatMap { PathSpelling.rawAndEncodedSpellings(String($0.canonical(path[...]))) }.map(PurgeScope.path).uniqued()
        case .subtree(let prefix):
            // A prefix ends in "/" by definition: it keeps it under every spelling.
            PathSpelling.every.filter { !$0.ignoreTrailingSlash }
                .flatMap { PathSpelling.rawAndEncodedSpellings(String($0.canonical(prefix[...]))) }.map(PurgeScope.subtree).uniqued()
        case .route, .tag, .all: [self]
        }
    }

    /// How many subtrees above an entry, counted from the root, have their own id: a
    /// deeper one shares the id of its ancestor at this depth, so purging it purges
    /// that whole ancestor (more than asked, never less). A path of thousands of
    /// segments made each lookup and fill read and write as many counters in Redis.
    public static let maxSubtreeDepth = 16

    /// `prefix` cut after its `maxSubtreeDepth`th "/", if it has more.
    private static func withinDepth(_ prefix: String) -> Substring {
        var slashes = 0
        for i in prefix.utf8.indices where prefix.utf8[i] == UInt8(ascii: "/") {
            slashes += 1
            if slashes == maxSubtreeDepth { return prefix[...i] }
        }
        return prefix[...]
    }

    /// The scope ids an entry of `route` at `path` belongs to (besides `all`): its route,
    /// its path, and the subtrees above it (down to `maxSubtreeDepth`).
    public static func ids(route: String, path: Substring, tags: [String] = []) -> [UInt64] {
        // The path read in place: a Redis lookup and a fill ask every time, and a
        // Substring's UTF-8 iterator costs tens of instructions a byte.
        path.utf8.withContiguousStorageIfAvailable { ids(route: route, path: $0, tags: tags) }
            ?? ids(route: route, path: Array(path.utf8), tags: tags)
    }

    private static func ids(route: String, path: some Collection<UInt8>, tags: [String]) -> [UInt64] {
        var ids: [UInt64] = []   // sized once: a Redis lookup asks for them every time
        ids.reserveCapacity(2 + min(maxSubtreeDepth, path.reduce(0) { $0 + ($1 == UInt8(ascii: "/") ? 1 : 0) }) + tags.count)
        ids.append(fnv(3, route))
        ids.append(fnv(1, bytes: path))
        // FNV reads the bytes in order, so one pass hashes every prefix ending in "/".
        var subtree = fnv(2, bytes: [])
        var depth = 0
        for b in path {
            subtree = fnv(subtree, b)
            guard b == UInt8(ascii: "/") else { continue }
            ids.append(subtree)
            depth += 1
            if depth == maxSubtreeDepth { break }
        }
        for t in tags { ids.append(fnv(4, t)) }
        return ids
    }

    /// The tags of an answer: `Surrogate-Key` values, separated by blanks or commas (a
    /// proxy that folds repeated lines joins them with `, `: `grpA,` was a tag and
    /// `grpA` purged nothing). A Latin-1 byte is its character (`FieldText.latin1`).
    public static func tags(_ headers: some HeaderFields) -> [String] {
        headers.all("surrogate-key").flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }) }
            .map { FieldText.latin1(String($0)) }
    }

    /// Scope ids of tags.
    public static func tagIDs(_ tags: [String]) -> [UInt64] { tags.map { fnv(4, $0) } }

    static func fnv(_ kind: UInt8, _ text: some StringProtocol) -> UInt64 { fnv(kind, bytes: text.utf8) }

    private static func fnv(_ kind: UInt8, bytes: some Sequence<UInt8>) -> UInt64 {
        var h = fnv(0xcbf2_9ce4_8422_2325, kind)
        for b in bytes { h = fnv(h, b) }
        return h
    }

    /// One FNV-1a step.
    private static func fnv(_ h: UInt64, _ byte: UInt8) -> UInt64 { (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    public func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
