import Foundation
import Testing
import SidecacheTestSupport

/// The variants audit's: answers on routes whose key reads request fields besides the
/// URL said nothing of them, and nginx caching in front gave Alice's answer on a
/// `cookie:sid` route to Bob. They now carry a `Vary` naming each field.
@Suite("Answers name in Vary the fields their key reads")
struct KeyVaryTests {
    static let routes = #"""
    [{ "name": "me", "match": "GET /me/{x}", "ttl": "5m", "maxBodySize": "1KiB", "key": { "identity": "Authorization" } },
     { "name": "session", "match": "GET /session", "ttl": "5m", "key": { "identity": "cookie:sid" } },
     { "name": "lang", "match": "GET /lang/{x}", "ttl": "5m", "key": { "headers": ["X-Lang"] } },
     { "name": "plain", "match": "GET /plain", "ttl": "5m" }]
    """#

    /// The names the one `Vary` line of `answer` gives, lowercased; nil unless there is
    /// exactly one (nginx 1.22 caching in front reads the last line alone).
    static func varied(_ answer: TestResponse) -> Set<String>? {
        let lines = answer.headers("Vary")
        guard lines.count == 1 else { return nil }
        return Set(lines[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    }

    @Test func missesAndHitsNameThem() async throws {
        try await withProxy(routes: Self.routes) { (h: ProxyHarness) async throws in
            for path in ["/me/small", "/me/big", "/session", "/lang/one", "/plain"] {
                h.origin.on("GET", path, .json(path.hasSuffix("big") ? String(repeating: "x", count: 4096) : "{}"))
            }
            h.origin.on("GET", "/lang/two", .json("{}", headers: [("Vary", "Origin"), ("Vary", "X-Lang")]))
            let cases: [(path: String, headers: [(name: String, value: String)], varies: Set<String>, cache: [String])] = [
                ("/me/small", [("Authorization", "Bearer alice")], ["authorization", "accept-encoding"], ["MISS", "HIT"]),
                ("/me/big", [("Authorization", "Bearer alice")], ["authorization"], ["MISS", "MISS"]),   // too large: streamed, not stored
                // Not using the cache, and still the user's own answer.
                ("/me/small", [("Authorization", "Bearer alice"), ("X-HTTP-Method-Override", "GET")], ["authorization"], ["BYPASS", "BYPASS"]),
                ("/session", [("Cookie", "sid=alice; theme=dark")], ["cookie", "accept-encoding"], ["MISS", "HIT"]),
                ("/lang/one", [("X-Lang", "fr")], ["x-lang", "accept-encoding"], ["MISS", "HIT"]),
                // The upstream's two lines are joined in one (not stored: the key learns `Origin`).
                ("/lang/two", [("X-Lang", "fr")], ["origin", "x-lang"], ["MISS"]),
                ("/plain", [], ["accept-encoding"], ["MISS", "HIT"]),
            ]
            for c in cases {
                for expected in c.cache {
                    let answer = try await h.get(c.path, headers: c.headers)
                    #expect(answer.header("X-Cache") == expected && Self.varied(answer) == c.varies, "\(c.path): \(answer.headers("Vary"))")
                }
            }
        }
    }

    /// The hop-by-hop audit's: an upstream answer saying `Connection: vary` (with no
    /// `Vary`, or with one) lost the `Vary` the proxy gives it, stored or streamed, and
    /// nginx caching in front gave Alice's answer to Bob. Fields it lists go; `Vary` stays.
    @Test(arguments: ["/session", "/me/big"], [[], [(name: "Vary", value: "Origin")]] as [[(name: String, value: String)]])
    func anUpstreamListingVaryInConnectionKeepsIt(path: String, upstreamVary: [(name: String, value: String)]) async throws {
        try await withProxy(routes: Self.routes) { (h: ProxyHarness) async throws in
            h.origin.on("GET", path, .json(path.hasSuffix("big") ? String(repeating: "x", count: 4096) : "{}",
                                           headers: [("Connection", "vary, X-Secret"), ("X-Secret", "s")] + upstreamVary))
            let headers = [(name: path == "/session" ? "Cookie" : "Authorization", value: path == "/session" ? "sid=alice" : "Bearer alice")]
            let name = path == "/session" ? "cookie" : "authorization"
            for _ in 0..<2 {
                let answer = try await h.get(path, headers: headers)
                #expect(Self.varied(answer)?.isSuperset(of: [name] + upstreamVary.map { $0.value.lowercased() }) == true,
                        "\(answer.header("X-Cache") ?? ""): \(answer.headers("Vary"))")
                #expect(answer.header("X-Secret") == nil)
            }
        }
    }

    /// Revalidated with a 304: a `Vary` the 304 gives without the key's fields (RFC 9110
    /// §15.4.5 says it must not) has them named all the same; and with none, the proxy's
    /// own names in the stored `Vary` do not make the entry look varied on something its
    /// key lacks: it stays stored.
    @Test(arguments: [("/me/small", "Authorization", "Bearer alice", "authorization"), ("/lang/one", "X-Lang", "fr", "x-lang")], [true, false])
    func a304KeepsThemAndTheEntry(_ c: (path: String, field: String, value: String, name: String), varyOn304: Bool) async throws {
        let (path, name) = (c.path, c.name)
        let vary = varyOn304 ? [(name: "Vary", value: "Accept-Encoding")] : []
        try await withProxy(routes: Self.routes.replacingOccurrences(of: #""ttl": "5m""#, with: #""ttl": "origin""#)) {
            (h: ProxyHarness) async throws in
            h.origin.on("GET", path) { req in
                req.header("If-None-Match") == #""v1""#
                    ? OriginResponse(status: 304, headers: [("ETag", #""v1""#), ("Cache-Control", "public, max-age=10")] + vary)
                    : .json("{}", headers: [("ETag", #""v1""#), ("Cache-Control", "public, max-age=10")])
            }
            let headers = [(name: c.field, value: c.value)]
            #expect(try await h.get(path, headers: headers).header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            h.clock.advance(by: .seconds(11))
            let revalidated = try await h.get(path, headers: headers)
            #expect(revalidated.header("Cache-Status")?.contains("fwd-status=304") == true, "\(revalidated.header("Cache-Status") ?? "")")
            #expect(Self.varied(revalidated)?.contains(name) == true, "\(revalidated.headers("Vary"))")
            let hit = try await h.get(path, headers: headers)
            #expect(hit.header("X-Cache") == "HIT" && Self.varied(hit)?.contains(name) == true, "\(hit.headers("Vary"))")
            #expect(h.origin.count(path: path) == 2)
        }
    }
}
