import Testing
@testable import SidecacheCore

@Suite struct PathPatternTests {
    @Test(arguments: [
        // pattern, path, matches
        ("/api/users", "/api/users", true),
        ("/api/users", "/api/user", false),
        ("/api/users", "/api/users/", false),        // trailing slash is another path
        ("/api/users", "/api/users/1", false),
        ("/api/users", "/API/users", false),         // byte for byte, case-sensitive
        ("/api/users/{id}", "/api/users/42", true),
        ("/api/users/{id}", "/api/users/", false),   // {param} never binds an empty segment
        ("/api/users/{id}", "/api/users", false),
        ("/api/users/{id}", "/api/users/42/", false),
        ("/api/users/{id}", "/api/users/4/2", false), // one segment, never across "/"
        ("/api/{a}/x/{b}", "/api/1/x/2", true),
        ("/api/{a}/x/{b}", "/api/1/y/2", false),
        ("/api/feed/*", "/api/feed", true),          // rest may be nothing
        ("/api/feed/*", "/api/feed/", true),
        ("/api/feed/*", "/api/feed/a/b/c", true),
        ("/api/feed/*", "/api/feeds", false),
        ("/api/feed/*", "/api", false),
        ("/*", "/", true),
        ("/*", "/anything/at/all", true),
        ("/", "/", true),
        ("/", "/a", false),
        ("/", "", false),
        ("/a", "a", false),
    ] as [(String, String, Bool)])
    func matching(pattern: String, path: String, expected: Bool) throws {
        let p = try PathPattern(parsing: pattern)
        #expect(p.matches(path[...]) == expected, "\(pattern) vs \(path)")
        #expect((p.captures(path[...]) != nil) == expected)
    }

    @Test(arguments: [
        ("/api/users/{id}", "/api/users/42", ["id": "42"]),
        ("/api/users/{id}", "/api/users/a%2Fb", ["id": "a%2Fb"]),       // raw: still percent-encoded
        ("/api/users/{id}", "/api/users/J%C3%BCrgen", ["id": "J%C3%BCrgen"]),
        ("/o/{org}/r/{repo}/*", "/o/apple/r/swift/tree/main", ["org": "apple", "repo": "swift"]),
        ("/static", "/static", [:]),
    ] as [(String, String, [String: String])])
    func captures(pattern: String, path: String, expected: [String: String]) throws {
        let p = try PathPattern(parsing: pattern)
        #expect(p.captures(path[...]) == expected)
    }

    @Test(arguments: [
        ("/api/users/{id}", "/API/Users/42", false, true),
        ("/api/users/{id}", "/api/userz/42", false, false),
        ("/Api/*", "/aPI/x/y", false, true),
        ("/api/ü/{id}", "/api/ü/1", true, true),
        ("/api/ü/{id}", "/api/Ü/1", false, false),   // ASCII case only
        ("/a/{b}", "/A/", false, false),
    ] as [(String, String, Bool, Bool)])
    func caseInsensitiveMatchingFoldsASCIIOnly(pattern: String, path: String, exact: Bool, folded: Bool) throws {
        let p = try PathPattern(parsing: pattern)
        #expect(p.matches(path[...]) == exact)
        #expect(p.matches(path[...], caseInsensitive: true) == folded)
    }

    @Test func capturesNilOnMismatch() throws {
        let p = try PathPattern(parsing: "/api/users/{id}")
        #expect(p.captures("/api/orders/1") == nil)
        #expect(p.parameterNames == ["id"])
        #expect(p.hasRest == false)
        #expect(try PathPattern(parsing: "/a/*").hasRest)
    }

    @Test(arguments: [
        ("api/users", .notAbsolute),
        ("", .notAbsolute),
        ("/api//users", .emptySegment),
        ("//", .emptySegment),
        ("/api/", .emptySegment),
        ("/api/{bad", .badParameter("{bad")),
        ("/api/bad}", .badParameter("bad}")),
        ("/api/{}", .badParameter("{}")),
        ("/api/x{id}", .badParameter("x{id}")),
        ("/api/{a-b}", .badParameter("{a-b}")),
        ("/api/*/x", .starNotLast),
        ("/api/x*", .starNotLast),
        ("/{id}/{id}", .duplicateParameter("id")),
    ] as [(String, PathPattern.ParseError)])
    func parseErrors(pattern: String, expected: PathPattern.ParseError) {
        #expect(throws: expected) { try PathPattern(parsing: pattern) }
    }
}

@Suite struct RequestPatternTests {
    @Test func methodsAndPath() throws {
        let p = try RequestPattern(parsing: "PUT|PATCH /api/users/{id}")
        #expect(p.methods == ["PUT", "PATCH"])
        #expect(p.path.source == "/api/users/{id}")
        #expect(p.matches(method: "PUT", path: "/api/users/1"))
        #expect(p.matches(method: "PATCH", path: "/api/users/1"))
        #expect(!p.matches(method: "DELETE", path: "/api/users/1"))
        #expect(!p.matches(method: "put", path: "/api/users/1"))
        #expect(!p.matches(method: "PUT", path: "/api/users"))
        #expect(p.description == "PUT|PATCH /api/users/{id}")
    }

    @Test func duplicateMethodsCollapse() throws {
        #expect(try RequestPattern(parsing: "GET|GET /x").methods == ["GET"])
    }

    @Test(arguments: [
        ("GET", .shape),
        ("/x", .shape),
        ("", .shape),
        ("GET /x extra", .shape),
        ("get /x", .method("get")),
        ("Get /x", .method("Get")),
        ("GET| /x", .method("")),
        ("GET||PUT /x", .method("")),
        ("GE-T /x", .method("GE-T")),
        ("GET x", .path(.notAbsolute)),
        ("GET /a//b", .path(.emptySegment)),
    ] as [(String, RequestPattern.ParseError)])
    func parseErrors(text: String, expected: RequestPattern.ParseError) {
        #expect(throws: expected) { try RequestPattern(parsing: text) }
    }

    /// Whether a route listed first takes every path of a later one (the loader refuses a
    /// personal route hidden so behind a shared one).
    @Test(arguments: [
        ("/api/*", "/api/me", false, true),
        ("/api/*", "/api/{x}/y", false, true),
        ("/api/*", "/api/v2/*", false, true),
        ("/api/*", "/api/*", false, true),
        ("/*", "/me", false, true),
        ("/api/users/{id}", "/api/users/me", false, true),
        ("/api/{a}/{b}", "/api/x/y", false, true),
        ("/API/*", "/api/me", true, true),
        // Not every path: some go on to the later route.
        ("/API/*", "/api/me", false, false),
        ("/api/*", "/api", false, false),          // whether `/api/*` takes `/api` is not the point: not claimed
        ("/api/users/me", "/api/users/{id}", false, false),
        ("/api/{x}", "/api/x/y", false, false),
        ("/api/{x}", "/api/*", false, false),
        ("/api/x/*", "/api/{y}/z", false, false),
        ("/api/public/*", "/api/*", false, false),
    ])
    func coversEveryPathOfAnother(first: String, later: String, caseInsensitive: Bool, covers: Bool) throws {
        let a = try PathPattern(parsing: first)
        let b = try PathPattern(parsing: later)
        #expect(a.covers(b, caseInsensitive: caseInsensitive) == covers)
    }
}
