import SidecacheCore
import SidecacheTestSupport
import Testing

@Suite("Admin API: POST /purge")
struct AdminPurgeTests {
    static let routes = """
    [ { "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" },
      { "name": "post", "match": "GET /api/posts/{id}", "ttl": "5m" } ]
    """

    /// Fills /api/users/1, /api/users/2 and /api/posts/1 and checks they are hits.
    private func fill(_ h: ProxyHarness) async throws {
        for path in ["/api/users/1", "/api/users/2", "/api/posts/1"] {
            h.origin.on("GET", path, .json("{}"))
            _ = try await h.get(path)
            #expect(try await h.get(path).header("X-Cache") == "HIT")
        }
    }

    private func xCache(_ h: ProxyHarness, _ paths: [String]) async throws -> [String] {
        var out: [String] = []
        for p in paths { out.append(try await h.get(p).header("X-Cache") ?? "") }
        return out
    }

    @Test func purgeByPathMakesTheNextGetAMiss() async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            try await fill(h)
            let r = try await h.admin("POST", "/purge", json: #"{"path": "/api/users/1"}"#)
            #expect(r.status == 200)
            #expect(r.text == #"{"dryRun":false,"scopes":["path /api/users/1"],"l1Entries":1}"# + "\n")
            #expect(try await xCache(h, ["/api/users/1", "/api/users/2", "/api/posts/1"]) == ["MISS", "HIT", "HIT"])
            let metrics = prometheusSamples(try await h.admin("GET", "/metrics", token: nil).text)
            #expect(metrics[#"sidecache_purges_total{source="admin"}"#] == 1)
        }
    }

    @Test func dryRunAnswersTheSameAndChangesNothing() async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            try await fill(h)
            let r = try await h.admin("POST", "/purge", json: #"{"route": "user", "dryRun": true}"#)
            #expect(r.status == 200)
            #expect(r.text == #"{"dryRun":true,"scopes":["route user"],"l1Entries":2}"# + "\n")
            #expect(try await xCache(h, ["/api/users/1", "/api/users/2", "/api/posts/1"]) == ["HIT", "HIT", "HIT"])
            #expect(h.origin.totalCount == 3)
        }
    }

    @Test(arguments: [
        (#"{"route": "user"}"#, 2, ["MISS", "MISS", "HIT"]),
        (#"{"path": "/api/users/*"}"#, 2, ["MISS", "MISS", "HIT"]),
        (#"{"path": "/api/users/1?page=2"}"#, 1, ["MISS", "HIT", "HIT"]),   // the path, whatever its query
        (#"{"all": true}"#, 3, ["MISS", "MISS", "MISS"]),
        (#"{"tag": "nobody-uses-this"}"#, 0, ["HIT", "HIT", "HIT"]),
    ])
    func scopes(body: String, covered: Int, after: [String]) async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            try await fill(h)
            let r = try await h.admin("POST", "/purge", json: body)
            #expect(r.status == 200)
            #expect(r.json["l1Entries"]?.int == covered)
            #expect(try await xCache(h, ["/api/users/1", "/api/users/2", "/api/posts/1"]) == after)
        }
    }

    @Test(arguments: [
        (#"{"route": "nope"}"#, "no route named \"nope\""),
        (#"{"path": "api/users/1"}"#, "path must start with /"),
        (#"{"path": "/a", "route": "user"}"#, "name exactly one"),
        (#"{}"#, "name exactly one"),
        (#"{"all": false}"#, "all must be true"),
        (#"{"tag": ""}"#, "tag must be a non-empty string"),
        (#"{"path": "/a", "dryRun": "yes"}"#, "dryRun must be true or false"),
        ("not json", "must be a JSON object"),
    ])
    func badBodiesAre400(body: String, detail: String) async throws {
        try await withProxy(routes: Self.routes, extra: adminJSON) { h in
            let r = try await h.admin("POST", "/purge", json: body)
            #expect(r.status == 400)
            #expect(r.json["error"] == .string("bad_request"))
            #expect(r.json["detail"].flatMap { if case .string(let s) = $0 { s } else { nil } }?.contains(detail) == true, "\(r.text)")
        }
    }
}
