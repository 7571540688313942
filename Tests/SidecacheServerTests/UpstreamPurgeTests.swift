import SidecacheCore
import SidecacheTestSupport
import Testing

/// DESIGN "Beyond purge rules", purges declared by the upstream: `Sidecache-Purge` on a
/// 2xx/3xx answer to a mutation purges its targets before the client gets the answer,
/// and the field never reaches the client.
@Suite("Purges declared by the upstream")
struct UpstreamPurgeTests {
    static let routes = """
    [ { "name": "users", "match": "GET /api/users/{id}", "ttl": "5m" },
      { "name": "teams", "match": "GET /api/teams/{id}", "ttl": "5m" },
      { "name": "lists", "match": "GET /api/lists/{id}", "ttl": "5m" },
      { "name": "other", "match": "GET /api/other/{id}", "ttl": "5m" } ]
    """

    @Test func everyDeclaredTargetIsPurgedBeforeTheAnswer() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/api/users/7", .json("{}"))
            h.origin.on("GET", "/api/teams/3", .json("{}"))
            h.origin.on("GET", "/api/lists/1", .json("{}"))
            h.origin.on("GET", "/api/other/1", .json("{}", headers: [("Surrogate-Key", "user:7")]))
            h.origin.on("GET", "/api/other/2", .json("{}"))
            h.origin.on("POST", "/jobs/recompute", .json(#"{"ok":true}"#, headers: [
                ("Sidecache-Purge", "/api/users/7, /api/teams/*, tag=user:7"), ("Sidecache-Purge", "route=lists, route=nope, /x*y"),
            ]))
            let paths = ["/api/users/7", "/api/teams/3", "/api/lists/1", "/api/other/1", "/api/other/2"]
            for p in paths { _ = try await h.get(p) }
            for p in paths { #expect(try await h.get(p).header("X-Cache") == "HIT") }
            let answer = try await h.send("POST", "/jobs/recompute", body: Array("{}".utf8))
            #expect(answer.status == 200 && answer.header("Sidecache-Purge") == nil, "the field never reaches the client")
            for p in paths.dropLast() { #expect(try await h.get(p).header("X-Cache") == "MISS", "\(p) purged") }
            #expect(try await h.get("/api/other/2").header("X-Cache") == "HIT", "nothing else")
        }
    }

    @Test func anErrorAnswerPurgesNothing() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/api/users/1", .json("{}"))
            h.origin.on("POST", "/jobs/fail", .json("{}", status: 500, headers: [("Sidecache-Purge", "/api/users/1")]))
            _ = try await h.get("/api/users/1")
            _ = try await h.send("POST", "/jobs/fail", body: Array("{}".utf8))
            #expect(try await h.get("/api/users/1").header("X-Cache") == "HIT")
        }
    }

    @Test func theFieldIsParsedStrictly() {
        let routes = RouteTable([Route(name: "lists", pattern: try! RequestPattern(parsing: "GET /l/{id}"), ttl: .fixed(.seconds(1)))])
        let parsed = UpstreamPurge.scopes(["/a/1, /b/*,tag=t, route=lists, tag= u:7", " , route=none, a/b, /c*d, /q?x=1, tag=, tag=a b"],
                                          routes: routes)
        #expect(parsed.scopes == [.path("/a/1"), .subtree("/b/"), .tag("t"), .route("lists"), .tag("u:7")])
        #expect(parsed.skipped == ["route=none", "a/b", "/c*d", "/q?x=1", "tag=", "tag=a b"])
    }
}
