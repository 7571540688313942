import Testing
@testable import SidecacheCore

private func r(_ name: String, _ match: String, identity: IdentitySource? = nil, shared: Bool = false, keyBody: Bool = false) -> Route {
    Route(name: name, pattern: try! RequestPattern(parsing: match), ttl: .fixed(.seconds(60)), identity: identity, shared: shared,
          keyBody: keyBody)
}

private let table = RouteTable([
    r("me", "GET /api/me", identity: .header("Authorization")),
    r("session", "GET /api/session", identity: .cookie("sid")),
    r("public", "GET /api/public/*", shared: true),
    r("user", "GET /api/users/{id}"),
    r("search", "POST /api/search", keyBody: true),
    r("graphql", "GET|POST /graphql", keyBody: true),
])

/// A classification flattened to compare in a table.
enum Verdict: Equatable, Sendable, CustomStringConvertible {
    case cache(String, identity: String?)
    case bypass(String, BypassReason)
    case verify(String, token: String)
    case pass

    init(_ c: RequestClass) {
        switch c {
        case .cache(let route, let id): self = .cache(route.name, identity: id.map(String.init))
        case .bypass(let route, let reason): self = .bypass(route.name, reason)
        case .verify(let route, let token): self = .verify(route.name, token: String(token))
        case .pass: self = .pass
        }
    }

    var description: String {
        switch self {
        case .cache(let n, let id): "cache(\(n), \(id ?? "nil"))"
        case .bypass(let n, let r): "bypass(\(n), \(r.rawValue))"
        case .verify(let n, let t): "verify(\(n), \(t))"
        case .pass: "pass"
        }
    }
}

struct ClassifyCase: Sendable, CustomTestStringConvertible {
    var method = "GET"
    var uri: String
    var headers: HeaderList = []
    var body = false
    var expected: Verdict
    var testDescription: String { "\(method) \(uri) \(headers.lines.map { "\($0.name): \($0.value)" }) → \(expected)" }
}

@Suite struct RequestClassifierTests {
    @Test(arguments: [
        ClassifyCase(uri: "/api/users/1", expected: .cache("user", identity: nil)),
        ClassifyCase(method: "HEAD", uri: "/api/users/1", expected: .cache("user", identity: nil)),
        ClassifyCase(method: "POST", uri: "/api/users/1", expected: .pass),
        ClassifyCase(method: "PUT", uri: "/api/users/1", expected: .pass),
        ClassifyCase(method: "OPTIONS", uri: "/api/users/1", expected: .pass),
        ClassifyCase(method: "get", uri: "/api/users/1", expected: .pass),
        ClassifyCase(uri: "/nowhere", expected: .pass),
        ClassifyCase(uri: "/api/users/1/", expected: .pass),                       // no route matches the trailing slash
        ClassifyCase(uri: "http://example.com/api/users/1", expected: .pass),      // not origin form
        ClassifyCase(uri: "/api/users/%2e%2e", expected: .bypass("user", .unsafePath)),
        ClassifyCase(uri: "/api/users/a%2Fb", expected: .bypass("user", .unsafePath)),
        ClassifyCase(uri: "/api/public/a/../b", expected: .bypass("public", .unsafePath)),
        ClassifyCase(uri: "/api/users/1", body: true, expected: .bypass("user", .requestBody)),
        ClassifyCase(uri: "/api/users/1", headers: [("X-HTTP-Method-Override", "DELETE")], expected: .bypass("user", .methodOverride)),
        ClassifyCase(uri: "/api/users/1", headers: [("x-http-method", "PUT")], expected: .bypass("user", .methodOverride)),
        ClassifyCase(uri: "/api/users/1", headers: [("X-Method-Override", "PUT")], expected: .bypass("user", .methodOverride)),
        // A range is cut from the cached answer (RFC 9110 §14), never a bypass.
        ClassifyCase(uri: "/api/users/1", headers: [("Range", "bytes=0-10")], expected: .cache("user", identity: nil)),
        ClassifyCase(uri: "/api/users/1", headers: [("Authorization", "Bearer a")], expected: .bypass("user", .authorization)),
        ClassifyCase(uri: "/api/users/1", headers: [("authorization", "")], expected: .bypass("user", .authorization)),
        ClassifyCase(uri: "/api/users/1", headers: [("Cookie", "a=1")], expected: .bypass("user", .cookie)),
        ClassifyCase(uri: "/api/public/x", headers: [("Authorization", "Bearer a"), ("Cookie", "a=1")], expected: .cache("public", identity: nil)),
        ClassifyCase(uri: "/api/public/x", headers: [("Range", "bytes=0-1")], expected: .cache("public", identity: nil)),
        ClassifyCase(uri: "/api/me", headers: [("Authorization", "Bearer a")], expected: .cache("me", identity: "Bearer a")),
        ClassifyCase(uri: "/api/me", headers: [("AUTHORIZATION", "Bearer b")], expected: .cache("me", identity: "Bearer b")),
        ClassifyCase(uri: "/api/me", expected: .cache("me", identity: nil)),
        ClassifyCase(uri: "/api/me", headers: [("Authorization", "")], expected: .bypass("me", .authorization)),
        ClassifyCase(uri: "/api/me", headers: [("Cookie", "sid=1")], expected: .bypass("me", .cookie)),
        ClassifyCase(uri: "/api/session", headers: [("Cookie", "a=1; sid=xyz; b=2")], expected: .cache("session", identity: "xyz")),
        ClassifyCase(uri: "/api/session", headers: [("Cookie", "sid=first"), ("Cookie", "sid=second")], expected: .bypass("session", .ambiguousIdentity)),
        ClassifyCase(uri: "/api/session", headers: [("Cookie", "a=1"), ("Cookie", "b=2;sid=q")], expected: .cache("session", identity: "q")),
        ClassifyCase(uri: "/api/session", headers: [("Cookie", "xsid=1; sidx=2")], expected: .bypass("session", .cookie)),
        ClassifyCase(uri: "/api/session", headers: [("Cookie", "a=1; sid=")], expected: .bypass("session", .cookie)),
        ClassifyCase(uri: "/api/session", headers: [("Authorization", "Bearer a")], expected: .bypass("session", .authorization)),
        ClassifyCase(uri: "/api/session", expected: .cache("session", identity: nil)),
        // key.body routes: POST reads with their body; a GET only where the route matches GET.
        ClassifyCase(method: "POST", uri: "/api/search", body: true, expected: .cache("search", identity: nil)),
        ClassifyCase(method: "POST", uri: "/api/search", expected: .cache("search", identity: nil)),
        ClassifyCase(uri: "/api/search", expected: .pass),
        ClassifyCase(method: "HEAD", uri: "/api/search", expected: .pass),
        ClassifyCase(method: "PUT", uri: "/api/search", body: true, expected: .pass),
        ClassifyCase(method: "POST", uri: "/api/search", headers: [("Authorization", "Bearer a")], body: true, expected: .bypass("search", .authorization)),
        ClassifyCase(method: "POST", uri: "/api/search", headers: [("X-HTTP-Method-Override", "DELETE")], body: true,
                     expected: .bypass("search", .methodOverride)),
        ClassifyCase(uri: "/graphql", expected: .cache("graphql", identity: nil)),
        ClassifyCase(uri: "/graphql", body: true, expected: .bypass("graphql", .requestBody)),
        ClassifyCase(method: "POST", uri: "/graphql", body: true, expected: .cache("graphql", identity: nil)),
    ])
    func classify(c: ClassifyCase) {
        let got = RequestClassifier.classify(method: c.method, target: RequestTarget(c.uri), headers: c.headers,
                                             hasBody: c.body, routes: table)
        #expect(Verdict(got) == c.expected)
    }

    /// A `key.body` POST whose query or body names another method (`_method`, in any
    /// spelling the upstream decodes) is a write to an upstream that honours it: it was
    /// stored as a read and the repeat answered from the cache, the write never made.
    @Test(arguments: [
        ("/api/search?_method=DELETE", "application/json", #"{"q":1}"#, true),
        ("/api/search?%5Fmethod=DELETE", "application/json", #"{"q":1}"#, true),
        ("/api/search", "application/x-www-form-urlencoded", "q=3&_method=DELETE", true),
        ("/api/search", "application/x-www-form-urlencoded", "q=3&.method=DELETE", true),
        ("/api/search", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=_method\r\n\r\nDELETE\r\n--b--\r\n", true),
        ("/api/search", "application/json", #"{"q":1,"_method":"DELETE"}"#, true),
        ("/api/search", "application/x-www-form-urlencoded", "q=1&+_method=DELETE", true),
        ("/api/search", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; NAME='_method'\r\n\r\nDELETE\r\n--b--\r\n", true),
        ("/api/search", "application/json", #"{"q":1,"\u005fmethod":"DELETE"}"#, true),
        ("/api/search", "application/json", #"[{"_method":"DELETE"}]"#, false),
        ("/api/search", "application/json", #"{"q":1,"method":"DELETE","x_method":1}"#, false),
        ("/api/search?q=_method", "application/x-www-form-urlencoded", "q=_method", false),
    ] as [(String, String, String, Bool)])
    func bodyReadsNamingAnotherMethodBypass(uri: String, type: String, body: String, bypasses: Bool) {
        let got = Array(body.utf8).withUnsafeBytes {
            RequestClassifier.classify(method: "POST", target: RequestTarget(uri), headers: HeaderList([(name: "Content-Type", value: type)]),
                                       hasBody: true, body: $0, routes: table)
        }
        #expect(Verdict(got) == (bypasses ? .bypass("search", .methodOverride) : .cache("search", identity: nil)))
    }

    /// A POST read that may be a write (a GraphQL `mutation` or `subscription`, or an
    /// escape that could spell one) is forwarded as a write: stored as a read, its repeat
    /// never reached the upstream and its purges never ran. An encoded body or a second
    /// `Content-Type` is one the key and the upstream may read differently.
    @Test(arguments: [
        ([], #"{"query":"mutation { addUser(name: \"x\") { id } }"}"#, Verdict.bypass("search", .mutation)),
        ([], #"{"query":"subscription { news }"}"#, .bypass("search", .mutation)),
        ([], #"{"query":"\u006dutation { x }"}"#, .bypass("search", .mutation)),
        ([], #"{"query":"{ user(id: 7) { name } }"}"#, .cache("search", identity: nil)),
        ([("Content-Encoding", "gzip")], #"{"q":1}"#, .bypass("search", .requestBody)),
        ([("Content-Encoding", "identity")], #"{"q":1}"#, .cache("search", identity: nil)),
        ([("Content-Type", "application/x-www-form-urlencoded")], #"{"q":1}"#, .bypass("search", .requestBody)),
    ] as [([(String, String)], String, Verdict)])
    func postReadsThatMayWriteOrReadTwoWaysBypass(headers: [(String, String)], body: String, expected: Verdict) {
        let fields = HeaderList([(name: "Content-Type", value: "application/json")] + headers.map { (name: $0.0, value: $0.1) })
        let got = Array(body.utf8).withUnsafeBytes {
            RequestClassifier.classify(method: "POST", target: RequestTarget("/api/search"), headers: fields, hasBody: true, body: $0, routes: table)
        }
        #expect(Verdict(got) == expected)
    }

    @Test func unsafePathCheckedBeforeCredentials() {
        let got = RequestClassifier.classify(method: "GET", target: RequestTarget("/api/me/../me"),
                                             headers: HeaderList([(name: "Authorization", value: "x")]), hasBody: false,
                                             routes: RouteTable([r("me", "GET /api/*", identity: .header("Authorization"))]))
        #expect(Verdict(got) == .bypass("me", .unsafePath))
    }

    /// Regression (malformed escape before a dot-segment), seen from the classifier: on a shared route, a path that an
    /// upstream resolves to /api/me (RFC 3986 dot-segment removal) is cached without identity.
    @Test func malformedEscapeTraversalOnSharedRoute() {
        let got = RequestClassifier.classify(method: "GET", target: RequestTarget("/api/public/x%2/../../me"),
                                             headers: HeaderList([(name: "Authorization", value: "Bearer alice")]),
                                             hasBody: false, routes: table)
        #expect(Verdict(got) == .bypass("public", .unsafePath))
    }

    @Test func identityValue() {
        let h: HeaderList = [("Cookie", "a=1; sid=xyz; b=2"), ("X-User", "u7")]
        #expect(RequestClassifier.identityValue(.cookie("sid"), h) == .one("xyz"))
        #expect(RequestClassifier.identityValue(.cookie("a"), h) == .one("1"))
        #expect(RequestClassifier.identityValue(.cookie("b"), h) == .one("2"))
        #expect(RequestClassifier.identityValue(.cookie("c"), h) == .none)
        #expect(RequestClassifier.identityValue(.header("x-user"), h) == .one("u7"))
        #expect(RequestClassifier.identityValue(.header("X-Other"), h) == .none)
        // Blanks, commas and quotes with no `=` after them hide no second pair.
        let loose: HeaderList = [("Cookie", "theme=dark blue; sid=xyz; list=a,b; q=\"x\"; prefs=\"lang=en\"; b64=\"YWI=\"")]
        #expect(RequestClassifier.identityValue(.cookie("sid"), loose) == .one("xyz"))
    }

    /// Hardening II §6: the key would hash one value while the upstream may read the other.
    @Test(arguments: [
        (IdentitySource.header("x-user"), HeaderList([("X-User", "alice"), ("X-User", "bob")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid=alice; sid=bob")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid=alice"), ("Cookie", "sid=bob")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid=alice; sid =bob")])),
        // Alone too: Rack reads `sid ` and PHP `sid_`, not `sid`; the key would hash a
        // token the upstream never saw.
        (.cookie("sid"), HeaderList([("Cookie", "sid =bob")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid\t=alice; sid=bob")])),
        // Names an upstream reads as `sid`: ASP.NET case-blind, PHP decoded.
        (.cookie("sid"), HeaderList([("Cookie", "SID=evil; sid=acme")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid=acme; %73id=evil")])),
        (.cookie("sid"), HeaderList([("Cookie", "Sid=evil")])),
        (.cookie("sid"), HeaderList([("Cookie", "%20sid=evil; sid=acme")])),          // PHP drops leading spaces
        // Python's SimpleCookie (aiohttp, Tornado) splits on blanks too and takes the last
        // `sid`: a cookie planted beside the victim's made the upstream read the planter's.
        (.cookie("sid"), HeaderList([("Cookie", "sid=acme; foo=x sid=evil")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid=acme; foo=1, sid=evil")])),
        (.cookie("sid"), HeaderList([("Cookie", "foo=\"x sid=evil\"; sid=acme")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid=acme\tsid=evil")])),
        // Bytes that were not UTF-8, replaced on the way in: `zz\xff` and `zz\xfe` alike.
        (.header("x-user"), HeaderList([("X-User", "zz\u{FFFD}")])),
        (.cookie("sid"), HeaderList([("Cookie", "sid=zz\u{FFFD}")])),
    ])
    func anIdentitySentTwiceIsAmbiguous(source: IdentitySource, headers: HeaderList) {
        #expect(RequestClassifier.identityValue(source, headers) == .ambiguous)
        let route = Route(name: "me", pattern: try! RequestPattern(parsing: "GET /me"), ttl: .fixed(.seconds(60)), identity: source)
        let got = RequestClassifier.classify(method: "GET", target: RequestTarget("/me"), headers: headers, hasBody: false,
                                             routes: RouteTable([route]))
        #expect(Verdict(got) == .bypass("me", .ambiguousIdentity))
    }

    /// `key.claims`: a Bearer token (or the cookie's value) goes to verification;
    /// anything else on the route is `unverified`, credentials or not.
    @Test(arguments: [
        (IdentitySource.header("Authorization"), HeaderList([("Authorization", "Bearer a.b.c")]), Verdict.verify("c", token: "a.b.c")),
        (.header("Authorization"), HeaderList([("Authorization", "bearer   a.b.c")]), .verify("c", token: "a.b.c")),
        (.header("Authorization"), HeaderList([("Authorization", "Basic dXNlcjpwYXNz")]), .bypass("c", .unverified)),
        (.header("Authorization"), HeaderList([("Authorization", "Bearer a.b c")]), .bypass("c", .unverified)),
        (.header("Authorization"), HeaderList([("Authorization", "Bearer ")]), .bypass("c", .unverified)),
        (.header("Authorization"), HeaderList([]), .bypass("c", .unverified)),
        (.header("Authorization"), HeaderList([("Cookie", "sid=1")]), .bypass("c", .unverified)),
        (.header("Authorization"), HeaderList([("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")]),
         .bypass("c", .ambiguousIdentity)),
        (.cookie("jwt"), HeaderList([("Cookie", "jwt=a.b.c")]), .verify("c", token: "a.b.c")),
        (.cookie("jwt"), HeaderList([("Cookie", " jwt=a.b.c;")]), .verify("c", token: "a.b.c")),
        // A credential beside the token's carrier may personalise the answer that the
        // claims would share: it bypasses (it was verified and shared by role).
        (.header("Authorization"), HeaderList([("Authorization", "Bearer a.b.c"), ("Cookie", "sid=alice")]), .bypass("c", .cookie)),
        (.cookie("jwt"), HeaderList([("Cookie", "jwt=a.b.c"), ("Authorization", "Basic dXNlcjpwYXNz")]), .bypass("c", .authorization)),
        // Beside a token cookie, another cookie is another credential (a session the
        // upstream may answer for), in the same field or another.
        (.cookie("jwt"), HeaderList([("Cookie", "session=alice; jwt=a.b.c")]), .bypass("c", .cookie)),
        (.cookie("jwt"), HeaderList([("Cookie", "jwt=a.b.c"), ("Cookie", "x=1")]), .bypass("c", .cookie)),
        (.cookie("jwt"), HeaderList([("Cookie", "jwt=a.b.c; jwtx")]), .bypass("c", .cookie)),
        // `jwt =` is `jwt` to servers that trim cookie names: two tokens, not one.
        (.cookie("jwt"), HeaderList([("Cookie", "jwt=a.b.c; jwt =d.e.f")]), .bypass("c", .ambiguousIdentity)),
        (.header("X-Token"), HeaderList([("X-Token", "Bearer a.b.c"), ("Authorization", "Bearer z")]), .bypass("c", .authorization)),
    ])
    func claimsRoutesVerifyBearerTokens(from source: IdentitySource, headers: HeaderList, expected: Verdict) {
        let route = Route(name: "c", pattern: try! RequestPattern(parsing: "GET /c"), ttl: .fixed(.seconds(60)),
                          claims: ClaimsKey(names: ["role"], from: source))
        let got = RequestClassifier.classify(method: "GET", target: RequestTarget("/c"), headers: headers, hasBody: false,
                                             routes: RouteTable([route]))
        #expect(Verdict(got) == expected)
    }

    /// `shared` lifts the credential rule on a claims route too.
    @Test func aSharedClaimsRouteIgnoresOtherCredentials() {
        let route = Route(name: "c", pattern: try! RequestPattern(parsing: "GET /c"), ttl: .fixed(.seconds(60)),
                          claims: ClaimsKey(names: ["role"], from: .header("Authorization")), shared: true)
        let got = RequestClassifier.classify(method: "GET", target: RequestTarget("/c"),
                                             headers: HeaderList([("Authorization", "Bearer a.b.c"), ("Cookie", "sid=1")]),
                                             hasBody: false, routes: RouteTable([route]))
        #expect(Verdict(got) == .verify("c", token: "a.b.c"))
    }

    /// Cache deception: `/api/me;x.css` is `/api/me` to Tomcat, answered for the asker,
    /// and a shared (or claims) wildcard that matches it would share that answer. Such
    /// paths bypass those routes; routes keyed per identity, or without credentials in
    /// play, keep caching them under their own key.
    @Test(arguments: [
        ("shared", "/api/me;x.css", Verdict.bypass("r", .unsafePath)),
        ("claims", "/api/me;x.css", .bypass("r", .unsafePath)),
        ("shared", "/api/me", .cache("r", identity: nil)),
        ("plain", "/api/me;x.css", .cache("r", identity: nil)),
        ("shared ignoreMatrix", "/api/me;x.css", .cache("r", identity: nil)),
    ])
    func segmentParametersBypassRoutesWhoseEntriesOthersShare(route kind: String, path: String, expected: Verdict) {
        let route = Route(name: "r", pattern: try! RequestPattern(parsing: "GET /api/*"), ttl: .fixed(.seconds(60)),
                          claims: kind == "claims" ? ClaimsKey(names: ["role"], from: .header("X-Token")) : nil,
                          shared: kind.hasPrefix("shared"),
                          spelling: kind.hasSuffix("ignoreMatrix") ? PathSpelling(ignoreMatrix: true) : .exact)
        let headers = HeaderList(kind == "claims" ? [("X-Token", "Bearer a.b.c")] : [])
        var got = RequestClassifier.classify(method: "GET", target: RequestTarget(path), headers: headers, hasBody: false,
                                             routes: RouteTable([route]))
        if case .verify(let r, _) = got { got = .cache(r, identity: nil) }
        #expect(Verdict(got) == expected, "\(kind) \(path)")
    }

    /// Suffixes routers cut or trim at the end of a path (`/api/me~` read as `/api/me`).
    static let cutSuffixes = ["~", "%7E", "!", "%21", "%00", "%0a", "%0D", "%09", "%20"]

    /// Cache deception by case and suffix: Express and ASP.NET Core answer `/api/Me`,
    /// Rails `/api/me.json`, as `/api/me`. A wildcard whose entries others share takes
    /// them (the exact route does not), and must not store the asker's answer. Paths
    /// that resemble only a route sharing as widely still cache.
    @Test(arguments: Self.cutSuffixes.map { ("/api/me" + $0, "me", Verdict.bypass("any", .unsafePath)) } + [
        ("/api/Me", "me", Verdict.bypass("any", .unsafePath)),
        ("/api/ME", "me", .bypass("any", .unsafePath)),
        ("/api/me.json", "me", .bypass("any", .unsafePath)),
        ("/api/Me.JSON", "me", .bypass("any", .unsafePath)),
        ("/api/me%2Ejson", "me", .bypass("any", .unsafePath)),
        ("/api/Profile.xml", "user", .bypass("any", .unsafePath)),
        ("/api/Orders/7", "team", .bypass("any", .unsafePath)),
        ("/api/Orders/7", "role", .cache("any", identity: nil)),
        ("/api/news.json", "me", .cache("any", identity: nil)),
        ("/api/.me", "me", .cache("any", identity: nil)),
        ("/api/mine", "me", .cache("any", identity: nil)),
        // Paths below (PATH_INFO, prefix mounts).
        ("/api/me/x.css", "me", .bypass("any", .unsafePath)),
        ("/api/Me/", "me", .bypass("any", .unsafePath)),
        ("/api/orders/7/items.css", "team", .bypass("any", .unsafePath)),
        ("/api/profile/avatar", "user", .bypass("any", .unsafePath)),
        ("/api/orders/7/items", "role", .cache("any", identity: nil)),
        ("/api/news/1", "me", .cache("any", identity: nil)),
        ("/api/mine/x.css", "me", .cache("any", identity: nil)),
        ("/api/me%41", "me", .cache("any", identity: nil)),
    ])
    func looserSpellingsOfAMorePersonalRouteBypass(path: String, personal: String, expected: Verdict) {
        func route(_ name: String, _ match: String, identity: IdentitySource? = nil, claims: [String]? = nil, shared: Bool = false) -> Route {
            Route(name: name, pattern: try! RequestPattern(parsing: match), ttl: .fixed(.seconds(60)), identity: identity,
                  claims: claims.map { ClaimsKey(names: $0, from: .header("Authorization")) }, shared: shared)
        }
        let others = [
            "me": route("me", "GET /api/me", identity: .cookie("tok")),
            "user": route("user", "GET /api/profile"),                         // plain: caches no credentialed request
            "team": route("team", "GET /api/orders/{id}", claims: ["role", "team"]),
            "role": route("role", "GET /api/orders/{id}", claims: ["role"]),   // shares as widely as `any`
        ]
        let any = route("any", "GET /api/*", claims: ["role"])
        let routes = RouteTable([others[personal]!, route("news", "GET /api/news", shared: true), any])
        var got = RequestClassifier.classify(method: "GET", target: RequestTarget(path), headers: HeaderList([("Authorization", "Bearer a.b.c")]),
                                             hasBody: false, routes: routes)
        if case .verify(let r, _) = got { got = .cache(r, identity: nil) }
        #expect(Verdict(got) == expected, "\(path) beside \(personal)")
    }

    /// Below a more personal route's path (`/api/me/x.css`, which PATH_INFO and prefix
    /// mounts answer as `/api/me`), a shared route bypasses a credentialed request, where
    /// its own pattern leaves that rest to a variable. A rest the route spells itself, a
    /// personal route listed after it, or an anonymous request keep caching.
    @Test(arguments: [
        ("/api/me/x.css", true, Verdict.bypass("pub", .unsafePath)),
        ("/api/me/a/b", true, .bypass("pub", .unsafePath)),
        ("/api/me/x.css", false, .cache("pub", identity: nil)),
        ("/api/users/42/avatar", true, .cache("avatar", identity: nil)),
        ("/api/users/42/x.css", true, .bypass("pub", .unsafePath)),
        ("/api/later/x.css", true, .cache("pub", identity: nil)),
        ("/api/news/1", true, .cache("pub", identity: nil)),
        ("/t/acme/files/secret/x.css", true, .bypass("files", .unsafePath)),   // a literal before the rest
        ("/t/acme/files/readme", true, .cache("files", identity: nil)),
    ])
    func pathsBelowAMorePersonalRouteBypassCredentialedRequests(path: String, credentialed: Bool, expected: Verdict) {
        func route(_ name: String, _ match: String, identity: IdentitySource? = nil, shared: Bool = false) -> Route {
            Route(name: name, pattern: try! RequestPattern(parsing: match), ttl: .fixed(.seconds(60)), identity: identity, shared: shared)
        }
        let routes = RouteTable([
            route("me", "GET /api/me", identity: .cookie("sid")),
            route("user", "GET /api/users/{id}"),
            route("avatar", "GET /api/users/{id}/avatar", shared: true),
            route("news", "GET /api/news", shared: true),
            route("pub", "GET /api/*", shared: true),
            route("later", "GET /api/later", identity: .cookie("sid")),
            route("secret", "GET /t/{tenant}/files/secret", identity: .cookie("sid")),
            route("files", "GET /t/{tenant}/files/*", shared: true),
        ])
        let got = RequestClassifier.classify(method: "GET", target: RequestTarget(path),
                                             headers: HeaderList(credentialed ? [("Cookie", "sid=alice")] : []),
                                             hasBody: false, routes: routes)
        #expect(Verdict(got) == expected, "\(path) credentialed: \(credentialed)")
    }

    /// A broader route after the shared one takes all its paths as well, and says
    /// nothing of them: the table routes by the first match, and so does the check (it
    /// had bypassed every request of such a shared or claims route). A POST read is
    /// checked against the routes that take POST reads.
    @Test(arguments: [
        ("GET", "/api/catalog/shoes", Verdict.cache("catalog", identity: nil)),
        ("GET", "/api/catalog/Shoes.json", .cache("catalog", identity: nil)),
        ("GET", "/api/reports", .cache("reports", identity: nil)),
        ("GET", "/pub/logo.png", .cache("pub", identity: nil)),
        ("POST", "/q/Me", .bypass("qall", .unsafePath)),
        ("POST", "/q/me.json", .bypass("qall", .unsafePath)),
        ("POST", "/q/other", .cache("qall", identity: nil)),
    ])
    func aBroaderRouteAfterASharedOneDoesNotBypassIt(method: String, path: String, expected: Verdict) {
        func route(_ name: String, _ match: String, identity: IdentitySource? = nil, claims: [String]? = nil, shared: Bool = false,
                   keyBody: Bool = false) -> Route {
            Route(name: name, pattern: try! RequestPattern(parsing: match), ttl: .fixed(.seconds(60)), identity: identity,
                  claims: claims.map { ClaimsKey(names: $0, from: .header("Authorization")) }, shared: shared, keyBody: keyBody)
        }
        let routes = RouteTable([
            route("qme", "POST /q/me", identity: .header("X-User"), keyBody: true),
            route("qall", "GET|POST /q/*", shared: true, keyBody: true),
            route("catalog", "GET /api/catalog/*", shared: true),
            route("reports", "GET /api/reports", claims: ["role"]),
            route("api", "GET /api/*", identity: .header("X-User")),
            route("pub", "GET /pub/*", shared: true),
            route("rest", "GET /*"),
        ])
        var got = RequestClassifier.classify(method: method, target: RequestTarget(path), headers: HeaderList([("Authorization", "Bearer a.b.c")]),
                                             hasBody: method == "POST", routes: routes)
        if case .verify(let r, _) = got { got = .cache(r, identity: nil) }
        #expect(Verdict(got) == expected, "\(method) \(path)")
    }

    @Test func claimsFingerprintNamesEveryListedClaimOrNothing() {
        let key = ClaimsKey(names: ["tenant", "role"], from: .header("Authorization"))
        let a = key.fingerprint(["role": #""admin""#, "tenant": #""t1""#, "sub": #""alice""#])
        let b = key.fingerprint(["role": #""admin""#, "tenant": #""t1""#, "sub": #""bob""#])
        #expect(a != nil && a == b, "claims not listed do not split entries")
        #expect(key.fingerprint(["role": #""admin""#, "tenant": #""t2""#]) != a)
        #expect(key.fingerprint(["role": #""admin""#]) == nil, "a missing claim: unverified")
    }
}
