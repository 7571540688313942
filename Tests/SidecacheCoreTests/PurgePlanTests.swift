import Testing
@testable import SidecacheCore

private func rule(_ on: String, paths: [String] = [], routes: [String] = []) -> PurgeRule {
    PurgeRule(on: try! RequestPattern(parsing: on),
              targets: paths.map { .path(try! PathTemplate(parsing: $0)) } + routes.map { .route($0) })
}

private let rules = [
    rule("PUT|PATCH|DELETE /api/users/{id}", paths: ["/api/users/{id}", "/api/users"]),
    rule("POST /api/users", routes: ["users"]),
    rule("POST /api/connectors/callback", paths: ["/api/connectors/status/{body.userId}"]),
    rule("DELETE /api/*", paths: ["/api/feed/*"], routes: ["feed"]),
]

@Suite struct PurgePlanTests {
    @Test(arguments: [
        ("PUT", "/api/users/42", [.path("/api/users/42"), .path("/api/users")]),
        ("PATCH", "/api/users/42", [.path("/api/users/42"), .path("/api/users")]),
        ("DELETE", "/api/users/42", [.path("/api/users/42"), .path("/api/users"), .subtree("/api/feed/"), .route("feed")]),
        ("POST", "/api/users", [.route("users")]),
        ("DELETE", "/api/other", [.subtree("/api/feed/"), .route("feed")]),
        ("GET", "/api/users/42", []),
        ("POST", "/api/users/42", []),
        ("put", "/api/users/42", []),
        ("PUT", "/api/users/42/", []),
    ] as [(String, String, [PurgeScope])])
    func scopes(method: String, path: String, expected: [PurgeScope]) {
        let plan = PurgePlan(method: method, path: path[...], rules: rules)
        #expect(plan.isEmpty == expected.isEmpty)
        let scopes = plan.scopes(query: nil, headers: HeaderList(), body: nil)
        #expect(scopes.remove == expected)
        #expect(scopes.stale.isEmpty)
        #expect(scopes.widened.isEmpty)
    }

    /// On a case-insensitive route, rules written with capitals match every case of the
    /// mutation's path, and what they bind keeps the client's case (a tag is exact); the
    /// path was lowercased before the rules saw it, so `PUT /api/Orders/ABC` matched no
    /// rule of `PUT /api/Orders/{id}` and purged nothing.
    @Test func rulesOnACaseInsensitiveRouteMatchAnyCaseAndKeepTheValuesCase() throws {
        let routes = RouteTable([Route(name: "orders", pattern: try RequestPattern(parsing: "GET /api/Orders/{id}"), ttl: .fixed(.seconds(60)),
                                       spelling: PathSpelling(caseInsensitive: true, ignoreTrailingSlash: true))])
        let ordersRule = PurgeRule(on: try RequestPattern(parsing: "PUT /api/Orders/{id}"),
                                   targets: [.path(try PathTemplate(parsing: "/api/Orders")), .tag(try TagTemplate(parsing: "order:{id}"))])
        for path in ["/api/Orders/ABC", "/api/orders/ABC", "/API/ORDERS/%41BC/"] {
            let spelled = routes.ruleSpelling(of: path[...])
            #expect(spelled.caseInsensitive && spelled.path.hasSuffix("/ABC"), "\(path): \(spelled.path)")
            let plan = PurgePlan(method: "PUT", path: spelled.path, caseInsensitive: spelled.caseInsensitive, rules: [ordersRule])
            let scopes = plan.scopes(query: nil, headers: HeaderList(), body: nil)
            #expect(scopes.remove == [.path("/api/Orders"), .tag("order:ABC")], "\(path)")
        }
        // An exact route keeps case apart, as before.
        let exact = RouteTable([Route(name: "orders", pattern: try RequestPattern(parsing: "GET /api/Orders/{id}"), ttl: .fixed(.seconds(60)))])
        let spelled = exact.ruleSpelling(of: "/api/orders/ABC")
        #expect(PurgePlan(method: "PUT", path: spelled.path, caseInsensitive: spelled.caseInsensitive, rules: [ordersRule]).isEmpty)
    }

    /// A POST the upstream takes as a PUT or DELETE (`X-HTTP-Method-Override`, a
    /// `_method` parameter or form field) fires that method's rules: they missed the
    /// list and the tags a real DELETE purges.
    @Test(arguments: [
        ([("X-HTTP-Method-Override", "PUT")], nil, nil, ["PUT"]),
        ([("x-http-method", " delete ")], nil, nil, ["DELETE"]),
        ([("X-Method-Override", "PATCH"), ("X-HTTP-Method-Override", "PATCH")], nil, nil, ["PATCH"]),
        ([], "a=1&_method=delete", nil, ["DELETE"]),
        ([], nil, "name=x&_method=PUT", ["PUT"]),
        ([], nil, "_method=delete", ["DELETE"]),
        ([], nil, "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\npatch\r\n--b--\r\n", ["PATCH"]),
        ([], "_method=", nil, []),
        ([("X-HTTP-Method-Override", "P UT")], "method=PUT", "x_method=PUT", []),
        // Every spelling an upstream decodes to `_method`, and values it decodes to a
        // method: each was a delete that purged only its own path.
        ([], "_method=DEL%45TE", nil, ["DELETE"]),
        ([], "%5Fmethod=DELETE", nil, ["DELETE"]),
        ([], ".method=delete", nil, ["DELETE"]),
        ([], "_method=+PUT+", nil, ["PUT"]),
        ([], "+_method=DELETE", nil, ["DELETE"]),                  // PHP drops a name's leading spaces
        ([], nil, "q=1&%20_method=PUT", ["PUT"]),
        ([], nil, "--b\r\nContent-Disposition: form-data; NAME=\"_method\"\r\n\r\nput\r\n--b--\r\n", ["PUT"]),
        ([], nil, "--b\r\nContent-Disposition: form-data; name= '_method'\r\n\r\nput\r\n--b--\r\n", ["PUT"]),
        ([], nil, "--b\r\nContent-Disposition: form-data; name=\" _method\"\r\n\r\nput\r\n--b--\r\n", ["PUT"]),
        ([], nil, "_method=DEL%45TE", ["DELETE"]),
        ([], nil, "a=1&%5Fmethod=PUT", ["PUT"]),
        ([("X-HTTP-Method-Override", "DELETE, POST")], nil, nil, ["DELETE"]),
        ([], nil, "--b\r\nContent-Disposition: form-data; name=_method\r\n\r\npatch\r\n--b--\r\n", ["PATCH"]),
        ([], nil, #"{"a":1,"_method":"delete"}"#, ["DELETE"]),
        ([], nil, #"{"a":{"_method":"delete"},"method":"PUT"}"#, []),
        ([], "_methods=PUT&x_method=PUT&_method=PUT" + String(repeating: "%20", count: 40) + "X", nil, []),
    ] as [([(String, String)], String?, String?, [String])])
    func methodOverridesFireTheirRules(headers: [(String, String)], query: String?, body: String?, expected: [String]) {
        let fields = HeaderList(headers.map { (name: $0.0, value: $0.1) })
        let type = body?.hasPrefix("--b") == true ? "multipart/form-data; boundary=b"
            : body?.hasPrefix("{") == true ? "application/json" : "application/x-www-form-urlencoded"
        let methods = Array((body ?? "").utf8).withUnsafeBytes {
            MethodOverride.methods(headers: fields, query: query?[...], body: body == nil ? nil : $0, contentType: type,
                                   among: ["PUT", "PATCH", "DELETE"])
        }
        #expect(methods == expected)
        let plan = PurgePlan(method: "POST", overrides: { _ in methods }, path: "/api/users/42", rules: rules)
        #expect(plan.scopes(query: nil, headers: HeaderList(), body: nil).remove.contains(.path("/api/users")) == !expected.isEmpty)
    }

    /// A form of 50 000 distinct `_method` values, the one that counts last: each value is
    /// compared with the rules' methods in place. Each was made a String and searched for
    /// among those found before, quadratic: 20 000 of them held a loop 13 s (debug), and a
    /// body at `maxRequestBody` would have held it for most of an hour. The bound is ten
    /// times what a slow machine takes.
    @Test func manyDistinctOverridesCostLinearTime() {
        var form = (0..<50_000).map { "_method=X\($0)" }.joined(separator: "&")
        form += "&_method=delete"
        let started = ContinuousClock.now
        let methods = Array(form.utf8).withUnsafeBytes {
            MethodOverride.methods(headers: HeaderList(), query: nil, body: $0, contentType: "application/x-www-form-urlencoded",
                                   among: ["PUT", "DELETE"])
        }
        #expect(methods == ["DELETE"])
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    /// Overrides are asked only when a rule for another method matches the path: the
    /// body scan is not paid by every form POST (a 16 MiB one took seconds on the loop).
    @Test func overridesAreAskedOnlyWhenAnotherMethodsRuleMatches() {
        let asked = Box()
        _ = PurgePlan(method: "POST", overrides: { _ in asked.count += 1; return [] }, path: "/nothing/here", rules: rules)
        _ = PurgePlan(method: "POST", overrides: { _ in asked.count += 1; return [] }, path: "/docs/x", rules: rules)
        #expect(asked.count == 0)
        _ = PurgePlan(method: "POST", overrides: { _ in asked.count += 1; return [] }, path: "/api/users/7", rules: rules)
        #expect(asked.count == 1, "asked once for the two rules of other methods")
    }

    final class Box { var count = 0 }

    @Test func bodyTemplates() throws {
        let plan = PurgePlan(method: "POST", path: "/api/connectors/callback", rules: rules)
        #expect(plan.readsBody)
        #expect(!PurgePlan(method: "PUT", path: "/api/users/1", rules: rules).readsBody)
        let body = try #require(JSONValue.parse(Array(#"{"userId": 42}"#.utf8)))
        #expect(plan.scopes(query: nil, headers: HeaderList(), body: body).remove == [.path("/api/connectors/status/42")])
        let wide = plan.scopes(query: nil, headers: HeaderList(), body: nil)
        #expect(wide.remove == [.subtree("/api/connectors/status/")])
        #expect(wide.widened == ["/api/connectors/status/{body.userId}: {body.userId}"])
    }

    @Test(arguments: [
        (100, false), (101, false), (199, false), (200, true), (201, true), (204, true), (299, true),
        (301, true), (304, true), (399, true), (400, false), (404, false), (500, false), (503, false),
    ] as [(Int, Bool)])
    func purgesOnStatus(status: Int, purges: Bool) {
        #expect(PurgePlan.purges(status: status) == purges)
    }
}

@Suite struct InvalidationTests {
    @Test(arguments: [
        // method, status, Location, host, expected scopes
        ("POST", 201, "/api/users/9", "example.com", [.path("/api/users"), .path("/api/users/9")]),
        ("POST", 201, "/api/users/9?x=1#f", "example.com", [.path("/api/users"), .path("/api/users/9")]),
        ("POST", 201, "http://example.com/api/users/9", "example.com", [.path("/api/users"), .path("/api/users/9")]),
        ("POST", 201, "HTTPS://Example.COM/api/users/9", "example.com", [.path("/api/users"), .path("/api/users/9")]),
        ("POST", 201, "//example.com/api/users/9", "example.com", [.path("/api/users"), .path("/api/users/9")]),
        ("POST", 201, "http://example.com:8080/api/users/9", "example.com:8080", [.path("/api/users"), .path("/api/users/9")]),
        ("POST", 201, "http://other.com/api/users/9", "example.com", [.path("/api/users")]),
        ("POST", 201, "http://example.com.evil/api/users/9", "example.com", [.path("/api/users")]),
        ("POST", 201, "http://example.com:8080/api/users/9", "example.com", [.path("/api/users")]),
        ("POST", 201, "//other.com/api/users/9", "example.com", [.path("/api/users")]),
        ("POST", 201, "http://example.com/api/users/9", nil, [.path("/api/users")]),
        ("POST", 201, "/api/users", "example.com", [.path("/api/users")]),              // no duplicate
        ("POST", 303, "/api/users/9", "example.com", [.path("/api/users"), .path("/api/users/9")]),
        ("PUT", 204, "", "example.com", [.path("/api/users")]),
        ("DELETE", 200, "", "example.com", [.path("/api/users")]),
        ("PURGEME", 200, "", "example.com", [.path("/api/users")]),                     // any unsafe method
        ("GET", 200, "/api/users/9", "example.com", []),
        ("HEAD", 200, "/api/users/9", "example.com", []),
        ("OPTIONS", 200, "/api/users/9", "example.com", []),
        ("TRACE", 200, "/api/users/9", "example.com", []),
        ("POST", 400, "/api/users/9", "example.com", []),
        ("POST", 409, "/api/users/9", "example.com", []),
        ("POST", 500, "/api/users/9", "example.com", []),
        ("POST", 100, "/api/users/9", "example.com", []),
    ] as [(String, Int, String, String?, [PurgeScope])])
    func scopes(method: String, status: Int, location: String, host: String?, expected: [PurgeScope]) {
        let response: HeaderList = location.isEmpty ? [] : [("Location", location)]
        #expect(Invalidation.scopes(method: method, status: status, path: "/api/users", host: host, response: response) == expected)
    }

    @Test func contentLocationToo() {
        let response: HeaderList = [("Location", "/a/1"), ("Content-Location", "/a/2")]
        #expect(Invalidation.scopes(method: "PATCH", status: 200, path: "/a", host: "h", response: response)
                == [.path("/a"), .path("/a/1"), .path("/a/2")])
    }
}

@Suite struct PurgeScopeTests {
    @Test func entryBelongsToRoutePathAndEverySubtreeAbove() {
        let ids = Set(PurgeScope.ids(route: "user", path: "/api/users/42"))
        for scope in [PurgeScope.route("user"), .path("/api/users/42"), .subtree("/"), .subtree("/api/"), .subtree("/api/users/")] {
            #expect(ids.contains(scope.id), "missing \(scope)")
        }
        for scope in [PurgeScope.subtree("/api/users/42/"), .subtree("/api/users"), .path("/api/users"), .route("users"),
                      .path("/api/users/4"), .subtree("/api/u"), .all, .tag("user")] {
            #expect(!ids.contains(scope.id), "unexpected \(scope)")
        }
        #expect(ids.count == 5)
    }

    /// A path of thousands of segments belongs to the first `maxSubtreeDepth` subtrees
    /// only (each id is a counter read and written in Redis per lookup and fill); a
    /// purge of a deeper subtree purges its ancestor at that depth, so it still reaches
    /// every entry below it (and its siblings: more than asked, never less).
    @Test func subtreesDeeperThanTheLimitShareTheirAncestorsID() {
        let depth = PurgeScope.maxSubtreeDepth
        let deep = "/" + Array(repeating: "a", count: 4000).joined(separator: "/")
        #expect(PurgeScope.ids(route: "r", path: deep[...]).count == 2 + depth)
        let ids = Set(PurgeScope.ids(route: "r", path: deep[...]))
        for level in [1, depth, depth + 1, 3000] {
            let prefix = "/" + Array(repeating: "a", count: level).joined(separator: "/") + "/"
            #expect(ids.contains(PurgeScope.subtree(prefix).id), "a purge of the subtree at level \(level) reaches it")
        }
        let ancestor = "/" + String(repeating: "a/", count: depth - 1)   // `depth` slashes
        let sibling = ancestor + "b/c"
        let deepPurge = PurgeScope.subtree("/" + String(repeating: "a/", count: 3000))
        #expect(PurgeScope.ids(route: "r", path: sibling[...]).contains(deepPurge.id), "the ancestor's whole subtree is purged")
        let shallow = "/" + String(repeating: "a/", count: depth - 2) + "b/c"   // leaves the chain above the limit
        #expect(!PurgeScope.ids(route: "r", path: shallow[...]).contains(deepPurge.id))
        #expect(!ids.contains(PurgeScope.subtree("/b/").id))
    }

    /// Regression: `subtree("/")` is "every path that starts with /", so a purge of "/*"
    /// (or "/{id}" widened to it) must reach an entry at the root too.
    @Test func rootEntryIsInTheRootSubtree() {
        let ids = PurgeScope.ids(route: "home", path: "/")
        #expect(ids.contains(PurgeScope.path("/").id))
        #expect(ids.contains(PurgeScope.route("home").id))
        #expect(ids.contains(PurgeScope.subtree("/").id))
        #expect(ids.count == 3)
    }

    @Test func tags() {
        let ids = PurgeScope.ids(route: "r", path: "/x", tags: ["a", "b"])
        #expect(ids.contains(PurgeScope.tag("a").id))
        #expect(ids.contains(PurgeScope.tag("b").id))
        #expect(!ids.contains(PurgeScope.tag("c").id))
        #expect(ids.contains(PurgeScope.subtree("/").id))
    }

    @Test func kindsNeverShareIds() {
        let scopes: [PurgeScope] = [.path("x"), .subtree("x"), .route("x"), .tag("x"), .all, .path("y"), .path("")]
        #expect(Set(scopes.map(\.id)).count == scopes.count)
        #expect(PurgeScope.path("/a").id == PurgeScope.path("/a").id)   // stable
        #expect(PurgeScope.subtree("/api/").description == "subtree /api/*")
    }

    @Test func subtreeFromTemplateMatchesEntryIds() throws {
        let (scope, _) = try PathTemplate(parsing: "/api/users/*").expand(PurgeValues(params: [:], query: nil, headers: HeaderList(), body: nil))
        #expect(PurgeScope.ids(route: "user", path: "/api/users/42").contains(scope.id))
        #expect(!PurgeScope.ids(route: "user", path: "/api/usersx/42").contains(scope.id))
    }
}
