import SidecacheTestSupport
import Testing

/// DESIGN "HTTP fidelity": interim responses (RFC 9110 §15.2: 100, 103 Early Hints) go
/// on to HTTP/1.1 clients as received, ahead of the final answer, and are never stored;
/// the upstream's Age is kept (a miss passes it on, a hit adds its time in the cache).
@Suite("Interim responses and Age")
struct InterimTests {
    static let routes = #"[{ "name": "page", "match": "GET /pages/{id}", "ttl": "5m" }]"#

    @Test func earlyHintsReachTheClientAndAreNeverStored() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/pages/1", OriginResponse.json(#"{"p":1}"#).withEarlyHints(["</app.css>; rel=preload; as=style"]))
            let miss = try await h.get("/pages/1")
            #expect(miss.interim.map(\.status) == [103])
            #expect(miss.interim.first?.header("Link") == "</app.css>; rel=preload; as=style")
            #expect(miss.status == 200 && miss.text == #"{"p":1}"#)
            let hit = try await h.get("/pages/1")
            #expect(hit.header("X-Cache") == "HIT" && hit.interim.isEmpty, "never stored")
        }
    }

    @Test func interimResponsesOnPassThroughAndMutations() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/other", OriginResponse.text("o").withEarlyHints(["</a.js>; rel=preload"]))
            h.origin.on("POST", "/pages/2", OriginResponse(status: 201, interim: [(status: 100, headers: []), (status: 103, headers: [(name: "Link", value: "</b>")])]))
            let pass = try await h.get("/other")
            #expect(pass.interim.map(\.status) == [103] && pass.text == "o")
            let post = try await h.send("POST", "/pages/2", body: Array("{}".utf8))
            #expect(post.interim.map(\.status) == [100, 103] && post.status == 201)
        }
    }

    /// An HTTP/1.0 client cannot read a 1xx (RFC 9110 §15.2): it gets the final answer only.
    @Test func anHTTP10ClientGetsNoInterimResponse() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/pages/3", OriginResponse.json("{}").withEarlyHints(["</c>"]))
            let conn = try await RawConnection.connect(port: h.port)
            try await conn.send("GET /pages/3 HTTP/1.0\r\nHost: a\r\n\r\n")
            let (bytes, _) = try await conn.readUntilClose(timeout: .seconds(10))
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(40))")
            #expect(!text.contains(" 103 "))
        }
    }

    @Test func theUpstreamsAgeIsKeptAndAddedTo() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/pages/4", .json("{}", headers: [("Age", "100")]))
            let miss = try await h.get("/pages/4")
            #expect(miss.header("Age") == "100", "a miss passes the upstream's age on")
            h.clock.advance(by: .seconds(30))
            let hit = try await h.get("/pages/4")
            #expect(hit.header("Age") == "130", "a hit adds its time in the cache")
        }
    }
}
