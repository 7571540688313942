import Testing
@testable import SidecacheCore

@Suite struct RequestTargetTests {
    @Test(arguments: [
        ("/a/b?x=1&y", "/a/b", "x=1&y"),
        ("/a/b", "/a/b", nil),
        ("/a/b?", "/a/b", ""),
        ("/?x=1?y=2", "/", "x=1?y=2"),
        ("/a%2Fb?q=%2F", "/a%2Fb", "q=%2F"),
    ] as [(String, String, String?)])
    func split(uri: String, path: String, query: String?) throws {
        let t = try #require(RequestTarget(uri))
        #expect(t.path == path[...])
        #expect(t.query.map(String.init) == query)
    }

    @Test(arguments: ["http://example.com/a", "example.com:443", "*", "", "a/b", "/a#frag", "/a?x=1#frag"])
    func notOriginForm(uri: String) {
        #expect(RequestTarget(uri) == nil)
    }

    @Test(arguments: [
        "/a/../b", "/a/./b", "/a//b", "/a/%2e%2E/b", "/a/%2E/b", "/a/.%2e/b", "/a%2Fb", "/a%2fb",
        "/a/b/", "/a\\b", "/a%5cb", "/a%5Cb", "/..", "/.", "//", "/a/..", "/a/.",
        "/a/..;/b", "/a/.;x/b", "/a/%2e%2e;jsessionid=1/b",
    ])
    func unsafe(path: String) throws {
        let t = try #require(RequestTarget(path))
        #expect(!t.isCacheSafe, "\(path) must not be cacheable")
    }

    @Test(arguments: ["/", "/a/b", "/a.b/c..d", "/a/%20", "/a/...", "/.well-known/x", "/a/b.json", "/a/%41", "/a/b;v=1", "/a/...;x"])
    func safe(path: String) throws {
        let t = try #require(RequestTarget(path))
        #expect(t.isCacheSafe, "\(path) should be cacheable")
    }

    /// Regression: a malformed escape ("%2" then "/") must not hide the "/" that follows it: after
    /// it comes a real ".." segment, which an upstream removes (RFC 3986 §5.2.4), so
    /// "/a%2/../b" names "/b" there while the proxy keys it as something else.
    @Test(arguments: ["/a%2/../b", "/a%/../b", "/x/%/./y", "/a%zz", "/a%", "/a/%2", "/a%g0/b"])
    func malformedEscapeBeforeDotSegment(path: String) throws {
        let t = try #require(RequestTarget(path))
        #expect(!t.isCacheSafe, "\(path) contains a dot-segment")
    }
}

@Suite struct RouteTableTests {
    static func route(_ name: String, _ match: String) throws -> Route {
        Route(name: name, pattern: try RequestPattern(parsing: match), ttl: .fixed(.seconds(60)))
    }

    @Test func firstMatchWinsInOrderWritten() throws {
        let table = RouteTable([
            try Self.route("one", "GET /api/users/me"),
            try Self.route("user", "GET /api/users/{id}"),
            try Self.route("all", "GET /api/*"),
        ])
        #expect(table.route(forGET: "/api/users/me")?.name == "one")
        #expect(table.route(forGET: "/api/users/7")?.name == "user")
        #expect(table.route(forGET: "/api/users/7/x")?.name == "all")
        #expect(table.route(forGET: "/other") == nil)
        #expect(table.route(named: "user")?.pattern.path.source == "/api/users/{id}")
        #expect(table.route(named: "nope") == nil)
    }

    @Test func keyHeadersLowercased() throws {
        let r = Route(name: "r", pattern: try RequestPattern(parsing: "GET /r"), ttl: .origin, keyHeaders: ["X-Role", "Accept"])
        #expect(r.keyHeaders == ["x-role", "accept"])
    }

    @Test(arguments: [
        (.zero, "0s"), (.milliseconds(250), "250ms"), (.seconds(30), "30s"), (.seconds(300), "5m"),
        (.seconds(90), "90s"), (.seconds(43_200), "12h"), (.seconds(86_400), "1d"), (.milliseconds(1500), "1500ms"),
    ] as [(Duration, String)])
    func durationText(duration: Duration, text: String) {
        #expect(formatDuration(duration) == text)
        #expect(TTLPolicy.fixed(duration).description == text)
    }
}
