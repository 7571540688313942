import Testing
import SidecacheCore

/// Hardening II §8: spellings an origin reads as one resource share one key and one
/// purge scope; every other spelling stays distinct (paths are never normalised beyond this).
@Suite struct PathSpellingTests {
    @Test(arguments: [
        // RFC 3986 §6.2.2.2 and §6.2.2.1: always.
        ("/x/%61bc", PathSpelling.exact, "/x/abc"),
        ("/x/%7euser", .exact, "/x/~user"),
        ("/x/a%2fb", .exact, "/x/a%2Fb"),
        ("/x/%e2%82%ac", .exact, "/x/%E2%82%AC"),
        ("/x/%zz", .exact, "/x/%zz"),
        ("/x/%4", .exact, "/x/%4"),
        ("/x/ABC", .exact, "/x/ABC"),
        ("/x/abc/", .exact, "/x/abc/"),
        ("/x/abc;v=1", .exact, "/x/abc;v=1"),
        // Per route.
        ("/X/ABC", PathSpelling(caseInsensitive: true), "/x/abc"),
        ("/x/%41BC", PathSpelling(caseInsensitive: true), "/x/abc"),
        ("/x/a%2fB", PathSpelling(caseInsensitive: true), "/x/a%2Fb"),
        ("/x/abc/", PathSpelling(ignoreTrailingSlash: true), "/x/abc"),
        ("/", PathSpelling(ignoreTrailingSlash: true), "/"),
        ("/x/abc;v=1", PathSpelling(ignoreMatrix: true), "/x/abc"),
        ("/x;a=1/abc;b=2/d", PathSpelling(ignoreMatrix: true), "/x/abc/d"),
        ("/X/Abc;v=1/", PathSpelling(caseInsensitive: true, ignoreTrailingSlash: true, ignoreMatrix: true), "/x/abc"),
    ])
    func canonical(path: String, spelling: PathSpelling, expected: String) {
        #expect(spelling.canonical(path[...]) == expected[...])
    }

    @Test func keysFollowTheRoutesSpelling() throws {
        func key(_ path: String, _ spelling: PathSpelling) throws -> CacheKey {
            let route = Route(name: "x", pattern: try RequestPattern(parsing: "GET /x/{id}"), ttl: .fixed(.seconds(60)), spelling: spelling)
            return CacheKeyBuilder.key(route: route, host: "a", target: try #require(RequestTarget(path)), headers: HeaderList(), identity: nil)
        }
        // DESIGN: keyed byte for byte; only a loose route folds spellings.
        #expect(try key("/x/abc", .exact) != key("/x/%61bc", .exact))
        #expect(try key("/x/abc", .exact) != key("/x/ABC", .exact))
        let loose = PathSpelling(caseInsensitive: true, ignoreTrailingSlash: true, ignoreMatrix: true)
        for other in ["/x/ABC", "/x/abc/", "/x/abc;v=1", "/X/%41bc"] {
            #expect(try key("/x/abc", loose) == key(other, loose), "\(other)")
        }
    }

    @Test func routesMatchAndPurgeScopesInTheirSpelling() throws {
        let loose = Route(name: "loose", pattern: try RequestPattern(parsing: "GET /users/{id}"), ttl: .fixed(.seconds(60)),
                          spelling: PathSpelling(caseInsensitive: true, ignoreTrailingSlash: true))
        let exact = Route(name: "exact", pattern: try RequestPattern(parsing: "GET /items/{id}"), ttl: .fixed(.seconds(60)))
        let table = RouteTable([loose, exact])
        #expect(table.route(forGET: "/USERS/7")?.name == "loose")
        #expect(table.route(forGET: "/%75sers/7")?.name == "loose")
        #expect(table.route(forGET: "/%69tems/7")?.name == "exact")
        #expect(table.route(forGET: "/ITEMS/7") == nil)
        #expect(table.canonical(.path("/Users/AB/")) == .path("/users/ab"))
        #expect(table.canonical(.path("/items/A%42")) == .path("/items/AB"))
        #expect(table.canonical(.subtree("/USERS/")) == .subtree("/users/"))
        #expect(table.canonical(.route("loose")) == .route("loose"))
    }

    /// A purge reaches a path in every spelling a route could have stored it under,
    /// whichever route matches now; scopes that are not paths are as they are.
    @Test func aPurgeScopeReachesEverySpellingOfItsPath() {
        #expect(Set(PurgeScope.path("/c/Item").spellings) == [.path("/c/Item"), .path("/c/item")])
        #expect(Set(PurgeScope.path("/a/B/").spellings) == [.path("/a/B/"), .path("/a/b/"), .path("/a/B"), .path("/a/b")])
        #expect(Set(PurgeScope.path("/a;v=1/b").spellings) == [.path("/a;v=1/b"), .path("/a/b"), .path("/a%3Bv%3D1/b")])
        #expect(PurgeScope.path("/a/b").spellings == [.path("/a/b")])
        #expect(Set(PurgeScope.subtree("/API/Users/").spellings) == [.subtree("/API/Users/"), .subtree("/api/users/")])
        #expect(PurgeScope.path("/items/A%42").spellings.contains(.path("/items/AB")))
        #expect(PurgeScope.path("/api/Users/7").spellings.contains(.path("/api/Users/7")), "the exact spelling is one")
        for other in [PurgeScope.route("r"), .tag("T"), .all] { #expect(other.spellings == [other]) }
    }

    /// Characters raw and percent-encoded are two keys (RFC 3986 keeps reserved ones
    /// apart) that upstreams read as one resource: a purge reaches both.
    @Test func aPurgeScopeReachesCharactersRawAndEncoded() {
        #expect(Set(PurgeScope.path("/u/a@b.c").spellings) == [.path("/u/a@b.c"), .path("/u/a%40b.c")])
        #expect(Set(PurgeScope.path("/u/a%40b.c").spellings) == [.path("/u/a@b.c"), .path("/u/a%40b.c")])
        #expect(Set(PurgeScope.path("/u/x%3a1").spellings) == [.path("/u/x%3A1"), .path("/u/x:1")])
        #expect(Set(PurgeScope.path("/u/a+b;c").spellings).isSuperset(of: [.path("/u/a+b;c"), .path("/u/a%2Bb%3Bc")]))
        #expect(Set(PurgeScope.subtree("/t/a@b/").spellings) == [.subtree("/t/a@b/"), .subtree("/t/a%40b/")])
        #expect(PurgeScope.path("/u/a%2Fb").spellings == [.path("/u/a%2Fb")], "an escaped slash stays escaped")
        #expect(Set(PurgeScope.path("/u/a%7Cb").spellings) == [.path("/u/a%7Cb"), .path("/u/a|b")], "as NIO takes `|` raw")
        #expect(Set(PurgeScope.path("/u/%C3%A9").spellings) == [.path("/u/%C3%A9"), .path("/u/é")])
        #expect(PurgeScope.path("/u/a%25b").spellings == [.path("/u/a%25b")], "an escaped % stays escaped")
    }

    /// Dot and empty segments, as upstreams may read them (RFC 3986 §5.2.4, merged
    /// slashes, Tomcat's `..;`, escaped dots); a trailing slash is none.
    @Test(arguments: [
        ("/a/./b", true), ("/a//b", true), ("/a/x/../b", true), ("/../a", true), ("/a/..", true), ("/a/b/.", true),
        ("/a/%2e%2E/b", true), ("/a/x/..;j=1/b", true), ("/a/;x/b", true), ("//", true),
        ("/a/b/", false), ("/a/b", false), ("/", false), ("/a/.b/..c", false), ("/a;x/b", false), ("/a/%2F/b", false),
        ("/a/...", false),
    ])
    func dotAndEmptySegmentsAreFound(path: String, present: Bool) {
        #expect(DotSegments.present(in: path[...]) == present)
    }

    /// A `..` segment as an upstream may read it, escaped or behind another slash: what
    /// would leave an upstream's base path.
    @Test(arguments: [
        ("/../admin", true), ("/a/..", true), ("/%2e%2e/admin", true), ("/%2E./x", true), ("/..%2fadmin", true),
        ("/..%2Fadmin", true), ("/..%5cadmin", true), ("/..\\admin", true), ("/a\\..\\b", true), ("/..;x/admin", true),
        ("/a/%2e%2e", true),
        ("/a/./b", false), ("/a//b", false), ("/a/...", false), ("/a/..b", false), ("/a/b..", false), ("/a;../b", false),
        ("/a/%2e", false), ("/%252e%252e/x", false), ("/a/%2", false), ("/a/%zz..", false), ("/", false),
    ])
    func segmentsThatClimbAreFound(path: String, climbs: Bool) {
        #expect(DotSegments.climb(in: path[...]) == climbs)
    }
}
