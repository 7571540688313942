import Testing
@testable import SidecacheMetrics
@testable import SidecacheServer
import SidecacheTestSupport
import Synchronization

/// DESIGN "Beyond purge rules", request-body keys: a route may cache POST reads (search,
/// GraphQL queries) only with `"key": {"body": true}`; the body is hashed into the key,
/// the fill is the same POST, and purge rules reach these entries like any others.
@Suite("Request-body keys for POST reads")
struct BodyKeyTests {
    static let routes = """
    [ { "name": "search", "match": "POST /api/search", "ttl": "5m", "key": { "body": true }, "maxRequestBody": "1KiB" },
      { "name": "graphql", "match": "GET|POST /graphql", "ttl": "5m", "key": { "body": true } },
      { "name": "items", "match": "GET /api/items/{id}", "ttl": "5m" } ]
    """
    static let purge = #"[ { "on": "PUT /api/items/{id}", "routes": ["search"] } ]"#
    static let json = [("Content-Type", "application/json")]

    /// The origin answers a POST with the body it got and how many POSTs it has seen.
    static func echo(_ h: ProxyHarness, _ path: String) {
        let seen = Mutex(0)
        h.origin.on("POST", path) { request in
            let n = seen.withLock { $0 += 1; return $0 }
            return .json(#"{"query": \#(request.text), "n": \#(n)}"#)
        }
    }

    func post(_ h: ProxyHarness, _ path: String, _ body: String, headers: [(String, String)] = json) async throws -> TestResponse {
        try await h.send("POST", path, headers: headers.map { (name: $0.0, value: $0.1) }, body: Array(body.utf8))
    }

    @Test func theSameBodyIsAHitAndAnotherBodyAnotherEntry() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            Self.echo(h, "/api/search")
            let first = try await post(h, "/api/search", #"{"q":"a"}"#)
            #expect(first.header("X-Cache") == "MISS")
            #expect(first.text == #"{"query": {"q":"a"}, "n": 1}"#, "the fill is the client's POST, body and all")
            let again = try await post(h, "/api/search", #"{"q":"a"}"#)
            #expect(again.header("X-Cache") == "HIT")
            #expect(again.text == first.text)

            let other = try await post(h, "/api/search", #"{"q":"b"}"#)
            #expect(other.header("X-Cache") == "MISS" && other.text == #"{"query": {"q":"b"}, "n": 2}"#)
            let asForm = try await post(h, "/api/search", #"{"q":"a"}"#, headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(asForm.header("X-Cache") == "MISS", "the Content-Type is part of the key")
            #expect(h.origin.count("POST", path: "/api/search") == 3)
            let sent = h.origin.requests.filter { $0.method == "POST" }
            #expect(sent.map(\.text) == [#"{"q":"a"}"#, #"{"q":"b"}"#, #"{"q":"a"}"#])
            #expect(sent.first?.header("Content-Type") == "application/json")
        }
    }

    /// A GET and a POST on a GET|POST route are different requests, even with no body.
    @Test func aGetAndAnEmptyPostDoNotShareAnEntry() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/graphql", .json(#"{"via":"get"}"#))
            h.origin.on("POST", "/graphql", .json(#"{"via":"post"}"#))
            let viaGet = try await h.get("/graphql").text
            let viaPost = try await post(h, "/graphql", "").text
            #expect(viaGet == #"{"via":"get"}"#)
            #expect(viaPost == #"{"via":"post"}"#)
            #expect(try await h.get("/graphql").header("X-Cache") == "HIT")
            #expect(try await post(h, "/graphql", "").header("X-Cache") == "HIT")
        }
    }

    @Test func purgeRulesReachBodyKeyedEntries() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            Self.echo(h, "/api/search")
            h.origin.on("PUT", "/api/items/1", .json("{}"))
            _ = try await post(h, "/api/search", #"{"q":"a"}"#)
            _ = try await post(h, "/api/search", #"{"q":"b"}"#)
            #expect(try await h.send("PUT", "/api/items/1", body: Array("{}".utf8)).status == 200)
            let a = try await post(h, "/api/search", #"{"q":"a"}"#)
            let b = try await post(h, "/api/search", #"{"q":"b"}"#)
            #expect(a.header("X-Cache") == "MISS" && b.header("X-Cache") == "MISS")
        }
    }

    /// N identical POST reads at once: one reaches the upstream.
    @Test func concurrentIdenticalPostsMakeOneUpstreamRequest() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            let gate = CoalescingTests.Gate()
            h.origin.on("POST", "/api/search") { _ in await gate.wait(); return .json(#"{"hits":[]}"#) }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<10 { group.addTask { try await post(h, "/api/search", #"{"q":"same"}"#) } }
                #expect(try await eventually {
                    h.origin.count("POST", path: "/api/search") == 1 && h.proxy.engine.metrics.routes.stats(for: "search").coalescedCount == 9
                })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == 200 && $0.text == #"{"hits":[]}"# })
            #expect(h.origin.count("POST", path: "/api/search") == 1)
        }
    }

    @Test func aBodyOverTheRoutesLimitIsRefusedAndNothingIsForwarded() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            Self.echo(h, "/api/search")
            let big = #"{"q":""# + String(repeating: "x", count: 2000) + #""}"#
            let refused = try await post(h, "/api/search", big)
            #expect(refused.status == 413)
            #expect(h.origin.count("POST", path: "/api/search") == 0)
        }
    }

    /// Other methods on the route's path are mutations as ever: forwarded, never cached,
    /// and (RFC 9111 §4.4) they invalidate the path's entries, all bodies.
    @Test func otherMethodsAreNeverCachedAndInvalidate() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            Self.echo(h, "/api/search")
            h.origin.on("PUT", "/api/search", .json(#"{"put":true}"#))
            _ = try await post(h, "/api/search", #"{"q":"a"}"#)
            for _ in 0..<2 {
                let put = try await h.send("PUT", "/api/search", headers: [(name: "Content-Type", value: "application/json")], body: Array(#"{"q":"a"}"#.utf8))
                #expect(put.text == #"{"put":true}"# && put.header("X-Cache") != "HIT")
            }
            #expect(h.origin.count("PUT", path: "/api/search") == 2)
            let after = try await post(h, "/api/search", #"{"q":"a"}"#)
            #expect(after.header("X-Cache") == "MISS")
        }
    }

    /// A POST to a GET route is a mutation, as before: it is forwarded and purges.
    @Test func aPostOnAGetRouteIsNotARead() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/api/items/2", .json("{}"))
            h.origin.on("POST", "/api/items/2", .json(#"{"posted":true}"#))
            _ = try await h.get("/api/items/2")
            for _ in 0..<2 { _ = try await post(h, "/api/items/2", "{}") }
            #expect(h.origin.count("POST", path: "/api/items/2") == 2)
            #expect(try await h.get("/api/items/2").header("X-Cache") == "MISS")
        }
    }
}
