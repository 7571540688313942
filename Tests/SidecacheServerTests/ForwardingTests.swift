import Foundation
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Testing

@Suite("Forwarding through libcurl")
struct ForwardingTests {
    @Test func mutationsPassThroughWithBodyMethodAndHeaders() async throws {
        try await withProxy { h in
            h.origin.on("PATCH", "/api/things/1") { req in .text("got \(req.body.count)", status: 202) }
            let body = Array((0..<5000).map { UInt8($0 % 256) })
            let r = try await h.send("PATCH", "/api/things/1?x=1", headers: [("Content-Type", "application/octet-stream"),
                                                                            ("X-Custom", "v"), ("Connection", "keep-alive, X-Drop"),
                                                                            ("X-Drop", "secret"), ("Host", "api.example"),
                                                                            // DESIGN: client values are replaced.
                                                                            ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https")],
                             body: body)
            #expect(r.status == 202 && r.text == "got 5000")
            let seen = try #require(h.origin.requests.first)
            #expect(seen.method == "PATCH" && seen.uri == "/api/things/1?x=1")
            #expect(seen.body == body)
            #expect(seen.header("X-Custom") == "v")
            #expect(seen.header("Host") == "api.example")
            #expect(seen.header("X-Drop") == nil)
            #expect(seen.header("X-Forwarded-For") == "127.0.0.1")
            #expect(seen.header("X-Forwarded-Proto") == "http")
            #expect(seen.header("X-Forwarded-Host") == "api.example")
            #expect(seen.header("X-Request-Id")?.count == 16)
            #expect(seen.header("Expect") == nil)
            #expect(seen.header("Content-Type") == "application/octet-stream")
            #expect(seen.header("Connection") == "close", "a body's connection is not kept, and the upstream is told")
        }
    }

    /// A write whose client framed an empty body goes upstream with `Content-Length: 0`
    /// (the curl-options audit's: a PUT went without one, and nginx's DAV answered 500);
    /// one without a body goes without, and a GET without either way.
    @Test(arguments: [("PUT", "Content-Length: 0\r\n", "0"), ("PATCH", "Content-Length: 0\r\n", "0"),
                      ("DELETE", "Content-Length: 0\r\n", "0"), ("OPTIONS", "Content-Length: 0\r\n", "0"),
                      ("POST", "Content-Length: 0\r\n", "0"), ("PUT", "Transfer-Encoding: chunked\r\n", "0"),
                      ("DELETE", "", nil), ("GET", "Content-Length: 0\r\n", nil)] as [(String, String, String?)])
    func anEmptyBodyKeepsItsLength(method: String, framing: String, length: String?) async throws {
        try await withProxy { h in
            h.origin.on(method, "/x", .text("x"))
            let connection = try await RawConnection.connect(port: h.port)
            let body = framing.hasPrefix("Transfer-Encoding") ? "0\r\n\r\n" : ""
            try await connection.send("\(method) /x HTTP/1.1\r\nHost: a\r\n\(framing)Connection: close\r\n\r\n\(body)")
            #expect(try await connection.readResponses(1).first?.status == 200)
            let seen = try #require(h.origin.requests.first)
            #expect(seen.method == method && seen.header("Content-Length") == length && seen.body.isEmpty)
            #expect(seen.header("Transfer-Encoding") == nil && seen.header("Content-Type") == nil)
            try await connection.close()
        }
    }

    /// An upstream's base path is a boundary: a path that climbs out of it (literally,
    /// escaped, or behind an escaped slash that nginx decodes) gets 400 and reaches no
    /// one (the curl-options audit's `/../admin/secret.txt` was served from beside it).
    @Test(arguments: ["/../admin", "/%2e%2e/admin", "/x/..%2f..%2fadmin", "/..;x/admin"])
    func aPathThatClimbsNeverLeavesTheBasePath(path: String) async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/base/x", .text("below"))
        try await withProxy(upstream: origin.baseURL + "/base") { h in
            let connection = try await RawConnection.connect(port: h.port)
            try await connection.send("GET \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            let answer = try await connection.readResponses(1).first
            #expect(answer?.status == 400 && answer?.text.contains("base path") == true, "\(answer?.status ?? 0) \(answer?.text ?? "")")
            #expect(origin.totalCount == 0)
            #expect(try await h.get("/x").text == "below", "a path below it still goes")
            try await connection.close()
        }
        try await origin.shutdown()
    }

    /// Also when what it names is cached: the cache is not asked before the path is
    /// checked, so no entry answers a request the upstream would have been refused.
    @Test(arguments: ["/../x", "/%2e%2e/x", "/x/../../x"])
    func aPathThatClimbsIsRefusedEvenWhenWhatItNamesIsCached(path: String) async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/base/x", .text("below"))
        try await withProxy(routes: #"[{ "name": "x", "match": "GET /x", "ttl": "60s" }]"#, upstream: origin.baseURL + "/base") { h in
            #expect(try await h.get("/x").text == "below")
            #expect(try await h.get("/x").header("X-Cache") == "HIT")
            let connection = try await RawConnection.connect(port: h.port)
            try await connection.send("GET \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            let answer = try await connection.readResponses(1).first
            #expect(answer?.status == 400 && answer?.text.contains("base path") == true, "\(answer?.status ?? 0) \(answer?.text ?? "")")
            #expect(origin.totalCount == 1)
            try await connection.close()
        }
        try await origin.shutdown()
    }

    @Test func forwardedForIsAppendedAndRequestIdKept() async throws {
        try await withProxy { h in
            h.origin.on("GET", "/x", .text("x"))
            _ = try await h.get("/x", headers: [("X-Forwarded-For", "10.1.1.1"), ("X-Request-Id", "abc"), ("X-Forwarded-Proto", "https")])
            let seen = try #require(h.origin.requests.first)
            #expect(seen.header("X-Forwarded-For") == "10.1.1.1, 127.0.0.1")
            #expect(seen.header("X-Request-Id") == "abc")
            #expect(seen.header("X-Forwarded-Proto") == "http")
        }
    }

    /// An empty `X-Request-Id` is no id to keep: the upstream gets a new one.
    @Test func anEmptyRequestIdIsReplaced() async throws {
        try await withProxy { h in
            h.origin.on("GET", "/x", .text("x"))
            _ = try await h.get("/x", headers: [("X-Request-Id", "")])
            let seen = try #require(h.origin.requests.first)
            #expect(seen.headers("X-Request-Id").map(\.count) == [16], "\(seen.headers("X-Request-Id"))")
        }
    }

    @Test func hopByHopResponseHeadersAreDropped() async throws {
        try await withProxy { h in
            h.origin.on("GET", "/x", .text("x", headers: [("Connection", "X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "timeout=5"),
                                                           ("X-Kept", "yes")]))
            let r = try await h.get("/x")
            #expect(r.header("X-Hop") == nil && r.header("Keep-Alive") == nil)
            #expect(r.header("X-Kept") == "yes")
        }
    }

    /// 20 MB over an 8 MiB maxBodySize: streamed to the client intact, not stored.
    @Test func largeResponseStreamsIntactAndIsNotStored() async throws {
        try await withProxy(routes: #"[{ "name": "big", "match": "GET /big", "ttl": "5m" }]"#) { h in
            let size = 20_000_000
            h.origin.on("GET", "/big", OriginResponse(body: .generated(count: size)))
            let r = try await h.get("/big")
            #expect(r.status == 200)
            // Compared as one Bool: a failed #expect on two arrays this large diffs them for hours.
            let intact = r.body == OriginResponse.generatedBytes(count: size)
            #expect(intact, "\(r.body.count) of \(size) bytes, not the origin's")
            #expect(r.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=too-large")
            #expect(try await h.get("/big").header("X-Cache") == "MISS")
        }
    }

    /// An answer of exactly `maxBodySize` is stored, one a byte longer streams through, with
    /// a length and chunked alike.
    @Test(arguments: [false, true])
    func anAnswerAtMaxBodySizeIsStored(chunked: Bool) async throws {
        try await withProxy(routes: #"[{ "name": "doc", "match": "GET /doc/{id}", "ttl": "5m", "maxBodySize": "1KiB" }]"#) { h in
            for (path, size) in [("/doc/at", 1024), ("/doc/past", 1025)] {
                let body = [UInt8](repeating: UInt8(ascii: "a"), count: size)
                h.origin.on("GET", path, OriginResponse(body: chunked ? .chunked([Array(body[..<500]), Array(body[500...])]) : .bytes(body)))
                let filled = try await h.get(path)
                #expect(filled.body == body)
            }
            let at = try await h.get("/doc/at")
            #expect(at.header("X-Cache") == "HIT")
            let past = try await h.get("/doc/past")
            #expect(past.header("X-Cache") == "MISS")
            #expect(past.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=too-large")
        }
    }

    /// Unknown length (chunked upstream) that turns out bigger than maxBodySize.
    @Test func chunkedResponseOverTheLimitSwitchesToStreaming() async throws {
        try await withProxy(routes: #"[{ "name": "big", "match": "GET /big", "ttl": "5m", "maxBodySize": "64KiB" }]"#) { h in
            let chunks = (0..<10).map { i in [UInt8](repeating: UInt8(i), count: 20_000) }
            h.origin.on("GET", "/big", OriginResponse(body: .chunked(chunks)))
            let r = try await h.get("/big")
            #expect(r.body == chunks.flatMap { $0 })
            #expect(r.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=too-large")
        }
    }

    @Test func upstreamDownGives502JSON() async throws {
        let refusing = try RefusingPort()
        let closedPort = refusing.port
        try await withProxy(upstream: "http://127.0.0.1:\(closedPort)") { h in
            let r = try await h.get("/anything")
            #expect(r.status == 502)
            #expect(r.header("Content-Type") == "application/json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String])
            #expect(json["error"] == "upstream_unavailable")
            #expect(json["detail"] == "connect to 127.0.0.1:\(closedPort) refused")
        }
        withExtendedLifetime(refusing) {}
    }

    /// DESIGN "Headers": `X-Cache` and `Cache-Status` are added to answers, the proxy's own
    /// errors too: a 502 says whether a fill, a bypass or a pass-through failed. They had
    /// neither, so an operator could not tell a failing route from a failing pass.
    @Test func theProxysOwnErrorsSayWhatTheCacheDid() async throws {
        let refusing = try RefusingPort()
        let routes = #"[{ "name": "users", "match": "GET /api/users/{id}", "ttl": "1m" }]"#
        try await withProxy(routes: routes, upstream: "http://127.0.0.1:\(refusing.port)") { h in
            let cases: [(headers: [(String, String)], path: String, xCache: String, cacheStatus: String)] = [
                ([], "/api/users/1", "MISS", "sidecache; fwd=uri-miss"),
                ([("Authorization", "Bearer t")], "/api/users/1", "BYPASS", "sidecache; fwd=bypass; detail=authorization"),
                ([], "/elsewhere", "BYPASS", "sidecache; fwd=bypass"),
            ]
            for c in cases {
                let r = try await h.get(c.path, headers: c.headers)
                #expect(r.status == 502 && r.text.hasPrefix(#"{"error":"upstream_unavailable""#), "\(c.path) \(c.headers)")
                #expect(r.header("X-Cache") == c.xCache && r.header("Cache-Status") == c.cacheStatus, "\(c.path) \(c.headers)")
            }
        }
        withExtendedLifetime(refusing) {}
    }

    /// A query can carry a credential (`?access_token=`, a signed URL): warnings name the
    /// method and path with `?…`, never the query.
    @Test func warningsDoNotLogTheQuery() async throws {
        let refusing = try RefusingPort()
        let logs = LogCapture()
        let json = #"{ "listen": "127.0.0.1:0", "upstream": "http://127.0.0.1:\#(refusing.port)" }"#
        let server = try ProxyServer(config: try ConfigLoader.parse(Data(json.utf8), environment: [:]), logger: logs.logger)
        try await server.start()
        _ = try await TestHTTPClient.request(port: server.port!, "GET", "/feed?access_token=s3cret-value")
        await server.shutdown(grace: .seconds(1))
        #expect(logs.all.contains { $0.contains("upstream failed") && $0.contains("GET /feed?…") })
        #expect(!logs.all.contains { $0.contains("s3cret-value") })
        withExtendedLifetime(refusing) {}
    }

    /// The soak audit's: with the upstream down, every request wrote its "upstream
    /// failed" line, as long as its path: 477 MB of log in 20 s. Ten lines a second now
    /// (the clock is the test's: all of these fall in one second), the next one saying
    /// how many were left out, and a path is cut at 512 bytes.
    @Test func failureLinesAreAFewASecondAndBounded() async throws {
        let refusing = try RefusingPort()
        let logs = LogCapture()
        let clock = ManualClock()
        let json = #"{ "listen": "127.0.0.1:0", "upstream": "http://127.0.0.1:\#(refusing.port)" }"#
        let server = try ProxyServer(config: try ConfigLoader.parse(Data(json.utf8), environment: [:]), clock: clock, logger: logs.logger)
        try await server.start()
        for i in 0..<25 { #expect(try await TestHTTPClient.request(port: server.port!, "GET", "/feed/\(i)").status == 502) }
        let failed = { logs.all.filter { $0.contains("upstream failed") } }
        #expect(failed().count == 10)
        clock.advance(by: .seconds(1))
        _ = try await TestHTTPClient.request(port: server.port!, "GET", "/" + String(repeating: "a", count: 7000))
        await server.shutdown(grace: .seconds(1))
        #expect(failed().count == 11)
        let last = failed().last ?? ""
        #expect(last.contains(#""unlogged": 15"#) && last.utf8.count < 1000, "\(last.prefix(300))")
        withExtendedLifetime(refusing) {}
    }

    /// The proxy's own error to a HEAD has no body: a body after the head of a HEAD answer
    /// is read as the next answer on the connection. The JSON went out, and the GET
    /// pipelined behind the HEAD was answered with `{"error":…` as its status line.
    @Test func anErrorToAHeadHasNoBody() async throws {
        let refusing = try RefusingPort()
        try await withProxy(upstream: "http://127.0.0.1:\(refusing.port)") { h in
            let connection = try await RawConnection.connect(port: h.port)
            try await connection.send("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n")
            let answers = try await connection.readResponses(2, methods: ["HEAD", "GET"])
            #expect(answers.map(\.status) == [502, 502])
            #expect(answers.first?.body.isEmpty == true && answers.first?.header("Content-Length") == answers.last?.header("Content-Length"))
            #expect(answers.last?.text.hasPrefix(#"{"error":"upstream_unavailable""#) == true, "the GET's own answer, whole")
            try await connection.close()
        }
        withExtendedLifetime(refusing) {}
    }

    @Test func slowUpstreamGives504JSON() async throws {
        try await withProxy(extra: #""defaults": { "upstreamTimeout": "300ms" }"#) { h in
            h.origin.on("GET", "/slow", OriginResponse.text("late").delayed(.seconds(5)))
            let r = try await h.get("/slow")
            #expect(r.status == 504)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String])
            #expect(json["error"] == "upstream_timeout")
            #expect(r.header("X-Cache") == "BYPASS" && r.header("Cache-Status") == "sidecache; fwd=bypass")
        }
    }
}
