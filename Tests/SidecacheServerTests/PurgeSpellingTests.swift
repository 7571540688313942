import Testing
import SidecacheTestSupport

/// Hardening II §8: a mutation through one spelling of a path purges what was cached
/// under another spelling the origin reads as the same resource.
@Suite("Purges reach every spelling of a path")
struct PurgeSpellingTests {
    static let routes = #"""
    [{ "name": "exact", "match": "GET /x/{id}", "ttl": "5m" },
     { "name": "loose", "match": "GET /y/{id}", "ttl": "5m",
       "paths": { "caseInsensitive": true, "ignoreTrailingSlash": true, "ignoreMatrix": true } }]
    """#
    static let purge = #"[{ "on": "PUT /y/{id}", "paths": ["/y/{id}"] }]"#

    /// Fills `cached`, mutates through `mutated`, reads `cached` again: true when the
    /// second read reached the upstream (the entry was purged).
    static func purges(_ h: ProxyHarness, cached: String, mutated: String) async throws -> Bool {
        let before = h.origin.totalCount
        _ = try await h.get(cached)
        _ = try await h.get(cached)
        #expect(h.origin.totalCount == before + 1, "\(cached) was not cached")
        #expect(try await h.send("PUT", mutated).status == 204)
        _ = try await h.get(cached)
        return h.origin.totalCount == before + 3
    }

    @Test(arguments: [
        ("/x/abc", "/x/%61bc"), ("/x/caf%C3%A9", "/x/caf%c3%a9"), ("/x/%61bc", "/x/abc"), ("/x/caf%c3%a9", "/x/caf%C3%A9"),
        ("/y/abc", "/Y/ABC"), ("/y/abc", "/y/abc/"), ("/y/abc", "/y/abc;v=1"), ("/y/ABC", "/y/%61bc/"),
        // Reserved characters raw and percent-encoded (`encodeURIComponent` writes `%40`).
        ("/x/a@b.c", "/x/a%40b.c"), ("/x/a%40b.c", "/x/a@b.c"), ("/x/x:1", "/x/x%3a1"), ("/x/%2A", "/x/*"),
        ("/x/a|b", "/x/a%7Cb"),
    ])
    func aMutationThroughAnotherSpellingPurges(cached: String, mutated: String) async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/*", .text("v"))
            h.origin.on("PUT", "/*", OriginResponse(status: 204))
            let purged = try await Self.purges(h, cached: cached, mutated: mutated)
            #expect(purged, "PUT \(mutated) left \(cached) cached")
        }
    }

    /// A write through dot or empty segments: a normalising upstream (Tomcat, Apache,
    /// nginx's merge_slashes) changed `/x/abc` and the entry stayed cached; a router that
    /// does not, or one that redirects, changes something else. Refused, it changes nothing.
    @Test(arguments: ["/x/./abc", "/x//abc", "/x/q/../abc", "/x/%2e/abc", "/x/q/..;/abc", "/x/;j=1/abc"])
    func aWriteThroughDotOrEmptySegmentsIsRefused(mutated: String) async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/*", .text("v"))
            h.origin.on("PUT", "/*", OriginResponse(status: 204))
            let refused = try await h.send("PUT", mutated)
            #expect(refused.status == 400 && refused.text.contains("dot or empty segments"), "\(refused.status) \(refused.text)")
            #expect(h.origin.totalCount == 0, "nothing reached the upstream")
            #expect(try await h.send("PUT", "/x/abc/").status == 204, "a trailing slash is not an empty segment")
            #expect(try await h.get("/x/q/../abc").status == 200, "reads through such paths are forwarded (not cached)")
        }
    }

    /// Rules and routes written with capitals, on a case-insensitive route: a mutation in
    /// any case purges what the rule names. The rules were matched against the path
    /// already lowercased, case-sensitively, so none matched and the list stayed cached.
    @Test(arguments: ["/api/Orders/5", "/api/orders/5", "/API/ORDERS/5"])
    func rulesWithCapitalsOnACaseInsensitiveRoutePurge(mutated: String) async throws {
        let routes = #"""
        [{ "name": "order", "match": "GET /api/Orders/{id}", "ttl": "5m", "paths": { "caseInsensitive": true } },
         { "name": "orders", "match": "GET /api/Orders", "ttl": "5m", "paths": { "caseInsensitive": true } }]
        """#
        let purge = #"[{ "on": "PUT /api/Orders/{id}", "paths": ["/api/Orders"] }]"#
        try await withProxy(routes: routes, purge: purge) { h in
            h.origin.on("GET", "/*", .text("v"))
            h.origin.on("PUT", "/*", OriginResponse(status: 204))
            let purged = try await Self.purges(h, cached: "/api/Orders", mutated: mutated)
            #expect(purged, "PUT \(mutated) left /api/Orders cached")
        }
    }

    /// A spelling purges decode (`%61` for `a`, lowercase escape hex) is an entry of its
    /// own on an exact route (DESIGN: keyed byte for byte): it neither fills the plain
    /// spelling's entry nor is answered from it. An upstream routing on the raw path
    /// answered `/x/%61bc` with a 404, which was stored under `/x/abc`'s key and served to
    /// everyone asking for `/x/abc`; and the escaped spelling was given `/x/abc`'s entry
    /// where that upstream says 404. Purges reach both (`aMutationThroughAnotherSpellingPurges`).
    @Test(arguments: ["/x/%61bc", "/x/%61%62%63", "/x/ab%63"])
    func anEscapedSpellingNeverSharesThePlainOnesEntry(escaped: String) async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/x/abc", .text("abc"))
            h.origin.on("GET", "/*", OriginResponse(status: 404))
            let first = try await h.get(escaped)
            #expect(first.status == 404 && first.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            let plain = try await h.get("/x/abc")
            #expect(plain.status == 200 && plain.text == "abc" && plain.header("X-Cache") == "MISS", "not the escaped spelling's 404")
            #expect(try await h.get("/x/abc").header("X-Cache") == "HIT")
            let again = try await h.get(escaped)
            #expect(again.status == 404 && again.header("X-Cache") == "HIT", "its own entry, not /x/abc's")
            #expect(h.origin.count(path: escaped) == 1)
            #expect(try await h.get("/x/abc").text == "abc")
        }
    }

    /// On an `ignoreMatrix` route, a spelling with segment parameters is answered from the
    /// plain spelling's entry but never fills it: `;jsessionid=` is a Tomcat session, and
    /// the victim's account page it fetched was stored for everyone reading `/y/account`.
    @Test func aMatrixSpellingNeverFillsThePlainOnesEntry() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/*") { req in .text(req.path.contains(";jsessionid=victim") ? "victim's account" : "nobody's account") }
            let victim = try await h.get("/y/account;jsessionid=victim")
            #expect(victim.text == "victim's account")
            #expect(victim.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=path-spelling")
            let plain = try await h.get("/y/account")
            #expect(plain.text == "nobody's account" && plain.header("X-Cache") == "MISS")
            let again = try await h.get("/y/account;v=2")
            #expect(again.text == "nobody's account" && again.header("X-Cache") == "HIT", "one resource: served from the entry")
        }
    }

    /// Nor while the plain spelling's entry is stale: the escaped read is its own miss,
    /// not answered STALE with a refresh of its own (which fetched the escaped spelling
    /// and stored the upstream's 404 for it under the plain spelling's key).
    @Test func anEscapedSpellingIsItsOwnMissWhileThePlainEntryIsStale() async throws {
        let routes = #"[{ "name": "s", "match": "GET /s/{id}", "ttl": "10s", "staleWhileRevalidate": "1m" }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/s/abc", .text("abc"))
            h.origin.on("GET", "/*", OriginResponse(status: 404))
            _ = try await h.get("/s/abc")
            h.clock.advance(by: .seconds(15))
            let escaped = try await h.get("/s/%61bc")
            #expect(escaped.status == 404 && escaped.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            #expect(h.origin.count(path: "/s/%61bc") == 1)
            let refreshed = try await h.get("/s/abc")   // stale: its own refresh, of the plain spelling
            #expect(refreshed.status == 200 && refreshed.text == "abc" && refreshed.header("X-Cache") == "STALE")
            #expect(try await eventually { h.origin.count(path: "/s/abc") == 2 })
            let after = try await h.get("/s/abc")
            #expect(after.status == 200 && after.text == "abc", "not the escaped spelling's 404")
        }
    }

    /// Spellings the origin may read differently stay apart on an exact route: each has
    /// its own entry. A write through one purges the others too: a purge cannot know
    /// which route rules filled an entry (a config before a reload, another instance's
    /// on the same Redis), so it reaches every spelling. One more miss, never a purged
    /// answer served.
    @Test(arguments: [("/x/abc", "/x/ABC"), ("/x/abc", "/x/abc;v=1")])
    func exactRoutesKeepOtherSpellingsApartButAWritePurgesThemAll(cached: String, other: String) async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/*", .text("v"))
            h.origin.on("PUT", "/*", OriginResponse(status: 204))
            let purged = try await Self.purges(h, cached: cached, mutated: other)
            #expect(purged, "PUT \(other) left \(cached) cached")
            #expect(try await h.get(cached).header("X-Cache") == "HIT")
            #expect(try await h.get(other).header("X-Cache") == "MISS", "\(other) answered from \(cached)'s entry")
        }
    }
}
