import Testing
import SidecacheTestSupport

/// Hardening II §1, §6, §7: one request cannot hurt the next, and what the key says
/// about a request is exactly what the upstream is asked.
@Suite("The key and the upstream see the same request")
struct RequestConsistencyTests {
    /// Sends `raw` on a fresh connection; the answer's text and whether the proxy closed.
    static func answer(_ h: ProxyHarness, to raw: String) async throws -> (text: String, closed: Bool) {
        let conn = try await RawConnection.connect(port: h.port)
        try await conn.send(raw)
        let (bytes, closed) = try await conn.readUntilClose()
        return (String(decoding: bytes, as: UTF8.self), closed)
    }

    /// §1: `OPTIONS *` is forwarded in asterisk-form; requests after it still forward.
    @Test func asteriskFormReachesTheUpstreamAndHarmsNothing() async throws {
        try await withProxy { h in
            h.origin.on(nil, "/*", .text("fine"))
            h.origin.on("OPTIONS", "*", .text("star"))   // "*" scripts every path: OPTIONS only
            let conn = try await RawConnection.connect(port: h.port)
            try await conn.send("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
            let star = try await conn.readResponses(1).first
            #expect(star?.status == 200 && star?.text == "star", "OPTIONS * got \(star?.status ?? 0)")
            #expect(h.origin.requests.first?.method == "OPTIONS" && h.origin.requests.first?.uri == "*")
            for i in 0..<20 {   // more than one easy handle's worth of reuse
                #expect(try await h.get("/after/\(i)").text == "fine")
            }
        }
    }

    /// RFC 9110 §9.1: the method reaches the upstream exactly as sent. NIO parses
    /// `M-SEARCH` into a case named `MSEARCH`; forwarded under that name, the upstream
    /// could not parse it (the proxy answered 502).
    @Test(arguments: ["M-SEARCH", "PROPFIND", "PURGE"])
    func extensionMethodsReachTheUpstreamUnchanged(method: String) async throws {
        try await withProxy { h in
            h.origin.on(nil, "/upnp", .text("fine"))
            let conn = try await RawConnection.connect(port: h.port)
            try await conn.send("\(method) /upnp HTTP/1.1\r\nHost: a.example\r\n\r\n")
            let answer = try await conn.readResponses(1).first
            #expect(answer?.status == 200, "\(method) got \(answer?.status ?? 0)")
            #expect(h.origin.requests.first?.method == method)
        }
    }

    /// RFC 9111 §4.4 as DESIGN draws it: a successful answer to any method other than
    /// GET, HEAD, OPTIONS and TRACE invalidates its target like POST does, WebDAV's reads
    /// (PROPFIND, REPORT: registered as safe) too. They did not, and purge rules naming
    /// them were accepted but never ran.
    @Test(arguments: [("PROPPATCH", true), ("MKCOL", true), ("LINK", true), ("PURGE", true), ("PROPFIND", true), ("REPORT", true),
                      ("OPTIONS", false)])
    func unsafeExtensionMethodsInvalidate(method: String, invalidates: Bool) async throws {
        let routes = #"[{ "name": "d", "match": "GET /dav/{id}", "ttl": "5m" }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/dav/1", .text("v"))
            h.origin.on(nil, "/dav/1", .text("done"))
            _ = try await h.get("/dav/1")
            #expect(try await h.get("/dav/1").header("X-Cache") == "HIT")
            let conn = try await RawConnection.connect(port: h.port)
            try await conn.send("\(method) /dav/1 HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Length: 0\r\n\r\n")
            let answer = try await conn.readResponses(1).first
            #expect(answer?.status == 200)
            #expect(h.origin.requests.last?.method == method, "passed through unchanged")
            let after = try await h.get("/dav/1")
            #expect((after.header("X-Cache") == "MISS") == invalidates, "\(method): \(after.header("X-Cache") ?? "")")
        }
    }

    /// A purge rule fires for every method it names, WebDAV's and QUERY's included: the
    /// config took `REPORT|SEARCH|QUERY` and the rule never ran.
    @Test(arguments: ["REPORT", "SEARCH", "QUERY", "PROPFIND"])
    func purgeRulesFireForEveryMethodTheyName(method: String) async throws {
        let routes = #"[{ "name": "d", "match": "GET /dav/{id}", "ttl": "5m" }, { "name": "lists", "match": "GET /lists", "ttl": "5m" }]"#
        let purge = #"[{ "on": "REPORT|SEARCH|QUERY|PROPFIND /dav/{id}", "paths": ["/lists"] }]"#
        try await withProxy(routes: routes, purge: purge) { h in
            h.origin.on("GET", "/lists", .text("list"))
            h.origin.on(nil, "/dav/1", .text("done"))
            _ = try await h.get("/lists")
            #expect(try await h.get("/lists").header("X-Cache") == "HIT")
            let conn = try await RawConnection.connect(port: h.port)
            try await conn.send("\(method) /dav/1 HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Length: 0\r\n\r\n")
            #expect(try await conn.readResponses(1).first?.status == 200)
            #expect(try await h.get("/lists").header("X-Cache") == "MISS", "\(method) /dav/1 purged /lists")
            #expect(h.origin.count(path: "/lists") == 2)
        }
    }

    /// A method token the HTTP/1.1 parser (llhttp) does not know is refused with 400 and
    /// reaches nobody: the limit of "passed through as sent" (README, HTTP behaviour).
    @Test func aMethodTheParserDoesNotKnowIs400() async throws {
        try await withProxy { h in
            h.origin.on(nil, "/*", .text("fine"))
            let (text, closed) = try await Self.answer(h, to: "FROBNICATE /x HTTP/1.1\r\nHost: a.example\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 400") && closed)
            #expect(h.origin.totalCount == 0)
        }
    }

    /// §1: the other forms are answered 400 and reach nobody (absolute-form is served:
    /// ProtocolTests; a URI it cannot serve is one of these).
    @Test(arguments: ["GET * HTTP/1.1", "CONNECT a.example:443 HTTP/1.1", "CONNECT /x HTTP/1.1", "GET ws://a.example/x HTTP/1.1",
                      "GET a.example/x HTTP/1.1", "GET ?x=1 HTTP/1.1"])
    func otherTargetFormsAreRefused(requestLine: String) async throws {
        try await withProxy { h in
            h.origin.on(nil, "/*", .text("fine"))
            let (text, closed) = try await Self.answer(h, to: requestLine + "\r\nHost: a.example\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 4"), "\(requestLine)")
            #expect(closed)
            #expect(h.origin.totalCount == 0)
            #expect(try await h.get("/x").text == "fine")
        }
    }

    /// §6: a keyed header named in `Connection` is removed before keying too, so the
    /// entry is computed and keyed without it; a request that keeps it is another variant.
    @Test func connectionCannotRemoveAKeyedHeaderBehindTheKeysBack() async throws {
        let routes = #"[{ "name": "u", "match": "GET /users", "ttl": "5m", "key": { "headers": ["X-Role"] } }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/users") { req in .text("role=\(req.header("X-Role") ?? "none")") }
            let sneaky = try await h.get("/users", headers: [("X-Role", "admin"), ("Connection", "X-Role")])
            #expect(sneaky.text == "role=none")
            let admin = try await h.get("/users", headers: [("X-Role", "admin")])
            #expect(admin.text == "role=admin", "the admin variant was filled without X-Role")
            #expect(h.origin.count(path: "/users") == 2)
        }
    }

    /// §6: fields the key or the upstream could read differently when repeated.
    @Test(arguments: [
        [("Authorization", "Bearer alice"), ("Authorization", "Bearer bob")],
        [("Proxy-Authorization", "a"), ("Proxy-Authorization", "b")],
        [("Host", "a.example"), ("Host", "b.example")],
        [("Connection", "Host")],
        [("Connection", "Content-Length")],
    ])
    func ambiguousRequestsAreRefused(headers: [(String, String)]) async throws {
        try await withProxy { h in
            h.origin.on(nil, "/*", .text("fine"))
            var raw = "GET /me HTTP/1.1\r\n"
            if !headers.contains(where: { $0.0 == "Host" }) { raw += "Host: a.example\r\n" }
            for (name, value) in headers { raw += "\(name): \(value)\r\n" }
            let (text, closed) = try await Self.answer(h, to: raw + "\r\n")
            #expect(text.hasPrefix("HTTP/1.1 400"), "\(headers)")
            #expect(closed)
            #expect(h.origin.totalCount == 0)
        }
    }

    @Test func http11WithoutHostIsRefused() async throws {
        try await withProxy { h in
            let (text, _) = try await Self.answer(h, to: "GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 400"))
            #expect(h.origin.totalCount == 0)
        }
    }

    /// §6: an identity sent twice cannot name one user to the key and another upstream.
    @Test func aDuplicatedIdentityBypassesTheCache() async throws {
        let routes = #"[{ "name": "me", "match": "GET /me", "ttl": "5m", "key": { "identity": "cookie:sid" } }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/me", .text("someone"))
            let r = try await h.get("/me", headers: [("Cookie", "sid=alice; sid=bob")])
            #expect(r.header("Cache-Status") == "sidecache; fwd=bypass; detail=ambiguous-identity")
            _ = try await h.get("/me", headers: [("Cookie", "sid=alice; sid=bob")])
            #expect(h.origin.count(path: "/me") == 2)
        }
    }

    /// §7: URL-rewriting and client-address headers never shape a stored answer; requests
    /// that bypass the cache still carry them.
    @Test func urlOverrideHeadersAreStrippedFromFills() async throws {
        let routes = #"[{ "name": "p", "match": "GET /page", "ttl": "5m" }]"#
        let poison = [("X-Original-URL", "/admin"), ("X-Rewrite-URL", "/admin"), ("X-Host", "evil.example"),
                      ("X-Forwarded-Scheme", "nothttps"), ("X-Forwarded-Server", "evil.example"),
                      ("X-Forwarded-Prefix", "/evil"), ("X-Forwarded-Port", "1"), ("Forwarded", "host=evil.example"),
                      ("X-Forwarded-Uri", "/admin"), ("X-Original-URI", "/admin"), ("X-Forwarded-Path", "/admin"),
                      ("X-Envoy-Original-Path", "/admin"), ("X-Real-IP", "10.0.0.1"), ("True-Client-IP", "10.0.0.1"),
                      ("X-Client-IP", "10.0.0.1"), ("Client-IP", "10.0.0.1"), ("X-Cluster-Client-IP", "10.0.0.1"),
                      // Tornado, gunicorn, WSGI prefix middleware, IIS on Azure and the CDNs' own
                      ("X-Scheme", "https"), ("X-Forwarded-Protocol", "ssl"), ("X-Script-Name", "//evil.example"),
                      ("X-WAWS-Unencoded-URL", "/admin"), ("X-ARR-SSL", "on"), ("CloudFront-Forwarded-Proto", "https"),
                      ("CF-Visitor", #"{"scheme":"https"}"#), ("Fastly-SSL", "1"), ("CF-Connecting-IP", "10.0.0.1"),
                      ("Fastly-Client-IP", "10.0.0.1")]
        try await withProxy(routes: routes) { h in
            h.origin.on(nil, "/*") { req in
                .text(poison.compactMap { req.header($0.0) }.joined(separator: ","))
            }
            let filled = try await h.get("/page", headers: poison)
            #expect(filled.text == "", "the fill carried \(filled.text)")
            let passed = try await h.get("/other", headers: poison)
            #expect(passed.text.contains("/admin"))
        }
    }

    /// §7: query parameters outside `key.query` do not reach the fill.
    @Test func unkeyedQueryParametersDoNotReachTheFill() async throws {
        let routes = #"[{ "name": "l", "match": "GET /list", "ttl": "5m", "key": { "query": ["page"] } }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/list") { req in OriginResponse.text("q=" + (req.query ?? "")) }
            let first = try await h.get("/list?debug=evil&page=2&page=3")
            #expect(first.text == "q=page=2&page=3")
            let second = try await h.get("/list?page=2&page=3")
            #expect(second.text == "q=page=2&page=3")
            #expect(h.origin.count(path: "/list") == 1)
            let none = try await h.get("/list?debug=1")
            #expect(none.text == "q=")
        }
    }
}
