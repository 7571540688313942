import Foundation
import SidecacheTestSupport
import Synchronization
import Testing

/// DESIGN "Beyond purge rules", soft purge: `"mode": "stale"` on a purge rule or an
/// admin purge makes entries stale instead of gone: served within their stale windows
/// while one refresh runs, like an expired entry.
@Suite("Soft purge")
struct SoftPurgeTests {
    static let routes = """
    [ { "name": "feed", "match": "GET /api/feed/{id}", "ttl": "10m", "staleWhileRevalidate": "1m" },
      { "name": "doc", "match": "GET /api/doc/{id}", "ttl": "10m" } ]
    """
    static let purge = """
    [ { "on": "POST /api/posts", "paths": ["/api/feed/{body.feed}"], "mode": "stale" },
      { "on": "POST /api/docs", "paths": ["/api/doc/{body.doc}"], "mode": "stale" },
      { "on": "DELETE /api/feeds/{id}", "paths": ["/api/feed/{id}"] } ]
    """

    /// The version the origin answers GET `path` with, `{"v":N}`.
    final class Version: Sendable {
        private let value = Mutex(1)
        func set(_ n: Int) { value.withLock { $0 = n } }
        var current: Int { value.withLock { $0 } }
    }

    static func versioned(_ h: ProxyHarness, _ path: String) -> Version {
        let version = Version()
        h.origin.on("GET", path) { _ in .json(#"{"v":\#(version.current)}"#) }
        return version
    }

    /// A 304 from a soft-purged entry is stale too: its ttl is not its lifetime's remainder.
    @Test func aStale304ShowsNoFreshnessLeft() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge, extra: adminJSON) { h in
            h.origin.on("GET", "/api/feed/3", .json("{}", headers: [("ETag", #""e3""#)]))
            _ = try await h.get("/api/feed/3")
            _ = try await h.admin("POST", "/purge", json: #"{"path": "/api/feed/3", "mode": "stale"}"#)
            let r = try await h.get("/api/feed/3", headers: [("If-None-Match", #""e3""#)])
            #expect(r.status == 304 && r.header("X-Cache") == "STALE")
            #expect(r.header("Cache-Status") == "sidecache; hit; ttl=0", "\(r.header("Cache-Status") ?? "-")")
        }
    }

    /// Within the route's stale-while-revalidate window: the old answer at once, marked
    /// STALE, one background refresh, then the new answer.
    @Test func aSoftPurgedEntryIsServedStaleWhileOneRefreshRuns() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            let version = Self.versioned(h, "/api/feed/1")
            h.origin.on("POST", "/api/posts", .json("{}", status: 201))
            _ = try await h.get("/api/feed/1")
            version.set(2)
            _ = try await h.send("POST", "/api/posts", headers: [(name: "Content-Type", value: "application/json")],
                                 body: Array(#"{"feed": 1}"#.utf8))
            let stale = try await h.get("/api/feed/1")
            #expect(stale.header("X-Cache") == "STALE")
            #expect(stale.text == #"{"v":1}"#)
            // Its freshness is spent though its own lifetime has time left: no positive ttl.
            #expect(stale.header("Cache-Status")?.contains("; hit; ttl=0; detail=") == true, "\(stale.header("Cache-Status") ?? "-")")
            #expect(try await eventually { try await h.get("/api/feed/1").text == #"{"v":2}"# })
            #expect(h.origin.count("GET", path: "/api/feed/1") == 2, "one refresh, not one per request")
            #expect(try await h.get("/api/feed/1").header("X-Cache") == "HIT")
        }
    }

    /// No stale window: like an expired entry, the next request goes upstream (a
    /// conditional request when the entry has a validator) and never gets the old
    /// answer unasked.
    @Test func withoutAStaleWindowTheNextRequestAsksTheUpstream() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/api/doc/1") { request in
                request.header("If-None-Match") == #""v1""# ? OriginResponse(status: 304, headers: [("ETag", #""v1""#)])
                    : .json(#"{"doc":1}"#, headers: [("ETag", #""v1""#)])
            }
            h.origin.on("POST", "/api/docs", .json("{}"))
            _ = try await h.get("/api/doc/1")
            _ = try await h.send("POST", "/api/docs", headers: [(name: "Content-Type", value: "application/json")],
                                 body: Array(#"{"doc": 1}"#.utf8))
            let after = try await h.get("/api/doc/1")
            #expect(after.status == 200 && after.text == #"{"doc":1}"#)
            let asked = h.origin.requests.filter { $0.method == "GET" }
            #expect(asked.count == 2)
            #expect(asked.last?.header("If-None-Match") == #""v1""#, "revalidated, the body not sent again")
            #expect(try await h.get("/api/doc/1").header("X-Cache") == "HIT")
        }
    }

    /// A hard purge still removes: a DELETE rule without a mode, after a soft purge too.
    @Test func aHardPurgeAfterASoftOneRemoves() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge, extra: adminJSON) { h in
            let version = Self.versioned(h, "/api/feed/2")
            h.origin.on("DELETE", "/api/feeds/2", .json("{}"))
            _ = try await h.get("/api/feed/2")
            #expect(try await h.admin("POST", "/purge", json: #"{"path": "/api/feed/2", "mode": "stale"}"#).json["mode"]?.string == "stale")
            version.set(2)
            _ = try await h.send("DELETE", "/api/feeds/2")
            let after = try await h.get("/api/feed/2")
            #expect(after.header("X-Cache") == "MISS" && after.text == #"{"v":2}"#)
        }
    }

    @Test func theAdminPurgeTakesAModeAndRefusesOthers() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge, extra: adminJSON) { h in
            _ = Self.versioned(h, "/api/feed/3")
            _ = try await h.get("/api/feed/3")
            let soft = try await h.admin("POST", "/purge", json: #"{"route": "feed", "mode": "stale"}"#)
            #expect(soft.status == 200)
            #expect(try await h.get("/api/feed/3").header("X-Cache") == "STALE")
            // The background refresh is over before the origin stops (see ShadowVerificationTests).
            #expect(try await eventually { h.origin.count("GET", path: "/api/feed/3") == 2 })
            #expect(try await h.admin("POST", "/purge", json: #"{"route": "feed", "mode": "soft"}"#).status == 400)
            #expect(try await h.admin("POST", "/purge", json: #"{"route": "feed", "extra": 1}"#).status == 400)
        }
    }

    /// With Redis every instance serves the soft-purged entry stale, and one refresh,
    /// by whichever instance served it first, replaces it for all (the marks next to
    /// Redis's purge counters tell a soft purge from a hard one: `SoftPurgeMark`).
    @Test(arguments: ["strict", "fast"])
    func withRedisEveryInstanceServesItStaleUntilOneRefreshReplacesIt(consistency: String) async throws {
        try await withRedisPair(consistency: consistency, routes: Self.routes, purge: Self.purge) { p in
            let version = Mutex(1)
            p.origin.on("GET", "/api/feed/4") { _ in .json(#"{"v":\#(version.withLock { $0 })}"#) }
            p.origin.on("POST", "/api/posts", .json("{}"))
            _ = try await p.get(p.portA, "/api/feed/4")
            #expect(try await p.get(p.portB, "/api/feed/4").header("X-Cache") == "HIT")
            version.withLock { $0 = 2 }
            _ = try await TestHTTPClient.request(port: p.portA, "POST", "/api/posts",
                                                 headers: [("Host", "api.example"), ("Content-Type", "application/json")],
                                                 body: Array(#"{"feed": 4}"#.utf8))
            // Fast mode: B's L1 hears of the purge on the channel, a moment after the POST's answer.
            let staleText = Mutex<String?>(nil)
            #expect(try await eventually {
                let answer = try await p.get(p.portB, "/api/feed/4")
                guard answer.header("X-Cache") == "STALE" else { return false }
                staleText.withLock { $0 = answer.text }
                return true
            })
            #expect(staleText.withLock { $0 } == #"{"v":1}"#)
            #expect(try await eventually { try await p.get(p.portB, "/api/feed/4").text == #"{"v":2}"# })
            let onA = try await p.get(p.portA, "/api/feed/4")
            #expect(onA.header("X-Cache") == "HIT" && onA.text == #"{"v":2}"#, "B's refresh, through Redis")
            #expect(p.origin.count("GET", path: "/api/feed/4") == 2, "one fill, one refresh, for both instances")
        }
    }
}
