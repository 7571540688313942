import SidecacheCore
@testable import SidecacheServer
import Testing
import SidecacheTestSupport
import Synchronization

@Suite("Validation: 304s from the cache, conditional revalidation upstream")
struct ValidationTests {
    static let route = #"[{ "name": "d", "match": "GET /d/{id}", "ttl": "10s" }]"#
    static let etag = #""v1""#

    @Test func ifNoneMatchOnAFreshEntryIs304FromTheCache() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/1", .json(#"{"id":1}"#, headers: [("ETag", Self.etag), ("Cache-Control", "max-age=60")]))
            _ = try await h.get("/d/1")
            let r = try await h.get("/d/1", headers: [("If-None-Match", #"W/"v1""#)])
            #expect(r.status == 304)
            #expect(r.body.isEmpty)
            #expect(r.header("ETag") == Self.etag)
            #expect(r.header("Cache-Control") == "max-age=60")
            #expect(r.header("X-Cache") == "HIT")
            let other = try await h.get("/d/1", headers: [("If-None-Match", #""v0""#)])
            #expect(other.status == 200 && other.text == #"{"id":1}"#)
            #expect(h.origin.count(path: "/d/1") == 1)
        }
    }

    /// RFC 9110 §13.2.1: preconditions are ignored where the answer would not be 2xx. A
    /// stored 404 with an ETag was answered 304 to `If-None-Match: *` (or its tag).
    @Test func aStoredNon2xxIsNeverA304() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/9", .json("{}", status: 404, headers: [("ETag", Self.etag)]))
            _ = try await h.get("/d/9")
            for validators in [[("If-None-Match", "*")], [("If-None-Match", Self.etag)]] {
                let r = try await h.get("/d/9", headers: validators)
                #expect(r.status == 404 && r.header("X-Cache") == "HIT", "\(validators)")
            }
        }
    }

    /// RFC 9110 §13.1.1, §13.1.4: a GET whose `If-Match` or `If-Unmodified-Since` names
    /// another version gets 412, on the fill's own answer and on hits alike. The fields
    /// are not sent upstream on a fill, and both were answered 200 unevaluated. The 412
    /// answers a well-framed request: the connection stays.
    @Test func ifMatchAndIfUnmodifiedSinceAreEvaluatedOnMissesAndHits() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/4", .json("{}", headers: [("ETag", Self.etag), ("Last-Modified", "Sat, 21 Nov 2026 10:00:00 GMT")]))
            let client = try await TestHTTPClient.connect(port: h.port)
            let miss = try await client.send("GET", "/d/4", headers: [("If-Match", #""v0""#)])
            #expect(miss.status == 412 && miss.header("Connection") != "close")
            #expect(miss.header("X-Cache") == "MISS" && miss.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            #expect(h.origin.requests.last?.header("If-Match") == nil, "the fill asked for the whole answer")
            for (name, value) in [("If-Match", #""v0""#), ("If-Match", #"W/"v1""#), ("If-Unmodified-Since", "Sat, 21 Nov 2026 09:59:59 GMT")] {
                let r = try await client.send("GET", "/d/4", headers: [(name, value)])
                #expect(r.status == 412, "\(name): \(value)")
                #expect(r.header("X-Cache") == "HIT" && r.header("Cache-Status")?.hasPrefix("sidecache; hit; ttl=") == true)
            }
            for (name, value) in [("If-Match", #""v1""#), ("If-Match", #""v0", "v1""#), ("If-Match", "*"),
                                  ("If-Unmodified-Since", "Sat, 21 Nov 2026 10:00:00 GMT")] {
                let r = try await client.send("GET", "/d/4", headers: [(name, value)])
                #expect(r.status == 200 && r.header("X-Cache") == "HIT", "\(name): \(value)")
            }
            // If-Match decides before If-None-Match: a match of both is a 304.
            let both = try await client.send("GET", "/d/4", headers: [("If-Match", Self.etag), ("If-None-Match", Self.etag)])
            #expect(both.status == 304)
            #expect(h.origin.count(path: "/d/4") == 1)
            try await client.close()
        }
    }

    /// An answer this proxy compresses at store time carries the upstream's strong tag
    /// weakened; a client holding the strong one (from a bypassed request, or a write's
    /// answer) names the same representation. Its If-Match got a 412, on the fill's own
    /// answer and on every hit, where the upstream answers 200.
    @Test func ifMatchWithTheUpstreamsStrongTagHoldsOnACompressedEntry() async throws {
        let body = "{\"items\":[" + (0..<60).map { "{\"id\":\($0),\"name\":\"item\"}" }.joined(separator: ",") + "]}"
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/7", .json(body, headers: [("ETag", Self.etag)]))
            let miss = try await h.get("/d/7", headers: [("If-Match", Self.etag)])
            #expect(miss.status == 200 && miss.header("X-Cache") == "MISS" && miss.text == body)
            #expect(miss.header("ETag") == #"W/"v1""#, "compressed at store time: the tag weakened")
            for gzip in [false, true] {
                let accept: [(String, String)] = gzip ? [("Accept-Encoding", "gzip")] : []
                let hit = try await h.get("/d/7", headers: [("If-Match", Self.etag)] + accept)
                #expect(hit.status == 200 && hit.header("X-Cache") == "HIT", "gzip \(gzip)")
                #expect(try await h.get("/d/7", headers: [("If-Match", #""v0""#)] + accept).status == 412, "gzip \(gzip)")
            }
            #expect(h.origin.count(path: "/d/7") == 1)
        }
    }

    /// That leniency is only for a tag this proxy may have weakened: the upstream's own
    /// weak tag, on an entry stored as sent or on an answer streamed unstored, never
    /// matches a strong If-Match (RFC 9110 §13.1.1).
    @Test func anUpstreamsOwnWeakTagNeverMatchesIfMatch() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/11", .json("{}", headers: [("ETag", #"W/"v1""#)]))
            h.origin.on("GET", "/d/12", .json("{}", headers: [("ETag", #"W/"v1""#), ("Cache-Control", "private")]))
            for path in ["/d/11", "/d/12"] {
                let refused = try await h.get(path, headers: [("If-Match", Self.etag)])
                #expect(refused.status == 412, "\(path) miss")
                #expect(try await h.get(path, headers: [("If-Match", Self.etag)]).status == 412, "\(path) again")
                #expect(try await h.get(path).status == 200)
            }
        }
    }

    /// A fill whose answer is not stored streams to its client; the client's If-Match,
    /// not sent upstream, is evaluated on it all the same.
    @Test func anUnstoredFillsAnswerMeetsTheClientsPreconditions() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/6", .json("{}", headers: [("ETag", Self.etag), ("Cache-Control", "private")]))
            let refused = try await h.get("/d/6", headers: [("If-Match", #""other""#)])
            #expect(refused.status == 412)
            let met = try await h.get("/d/6", headers: [("If-Match", Self.etag)])
            #expect(met.status == 200 && met.text == "{}" && met.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=private")
            #expect(h.origin.requests.allSatisfy { $0.header("If-Match") == nil })
        }
    }

    @Test func ifModifiedSinceOnAFreshEntryIs304FromTheCache() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/2", .json("{}", headers: [("Last-Modified", "Sat, 21 Nov 2026 10:00:00 GMT")]))
            _ = try await h.get("/d/2")
            #expect(try await h.get("/d/2", headers: [("If-Modified-Since", "Sat, 21 Nov 2026 10:00:00 GMT")]).status == 304)
            #expect(try await h.get("/d/2", headers: [("If-Modified-Since", "Sat, 21 Nov 2026 09:59:59 GMT")]).status == 200)
            #expect(h.origin.count(path: "/d/2") == 1)
        }
    }

    /// stale-while-revalidate's background refresh is conditional too (README,
    /// Validation): it asked for the whole answer again, and the upstream sent the body
    /// each time. Its 304 refreshes the entry, the body stays.
    @Test func aBackgroundRevalidationIsConditional() async throws {
        try await withProxy(routes: #"[{ "name": "d", "match": "GET /d/{id}", "ttl": "10s", "staleWhileRevalidate": "1m" }]"#) { h in
            let conditionals = Mutex<[String?]>([])
            h.origin.on("GET", "/d/6") { req in
                conditionals.withLock { $0.append(req.header("If-None-Match")) }
                if req.header("If-None-Match") == Self.etag {
                    return OriginResponse(status: 304, headers: [("ETag", Self.etag), ("X-Version", "refreshed")])
                }
                return .json(#"{"body":"original"}"#, headers: [("ETag", Self.etag), ("X-Version", "first")])
            }
            _ = try await h.get("/d/6")
            h.clock.advance(by: .seconds(15))
            let stale = try await h.get("/d/6")
            #expect(stale.header("X-Cache") == "STALE" && stale.text == #"{"body":"original"}"#)
            #expect(try await eventually { try await h.get("/d/6").header("X-Version") == "refreshed" })
            #expect(conditionals.withLock { $0 } == [nil, Self.etag])
            let hit = try await h.get("/d/6")
            #expect(hit.header("X-Cache") == "HIT" && hit.text == #"{"body":"original"}"#)
            #expect(h.origin.count(path: "/d/6") == 2)
        }
    }

    /// A write's purge that lands while the background revalidation waits for its 304:
    /// the 304 confirms the entry as it was before the write, and is not stored.
    @Test func aBackgroundRevalidationsLate304DoesNotRestoreAPurgedEntry() async throws {
        let routes = #"[{ "name": "d", "match": "GET /d/{id}", "ttl": "10s", "staleWhileRevalidate": "1m" }]"#
        try await withProxy(routes: routes, purge: #"[{ "on": "PUT /d/{id}", "paths": ["/d/{id}"] }]"#) { h in
            h.origin.on("GET", "/d/7", .json(#"{"v":1}"#, headers: [("ETag", Self.etag)]))
            h.origin.on("PUT", "/d/7", OriginResponse(status: 204))
            _ = try await h.get("/d/7")
            h.clock.advance(by: .seconds(15))
            let written = Mutex(false)
            h.origin.on("GET", "/d/7") { req in
                if req.header("If-None-Match") == nil { return .json(#"{"v":2}"#, headers: [("ETag", #""v2""#)]) }
                for _ in 0..<2000 where !written.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
                return OriginResponse(status: 304, headers: [("ETag", Self.etag)])
            }
            #expect(try await h.get("/d/7").header("X-Cache") == "STALE")
            #expect(try await eventually { h.origin.count("GET", path: "/d/7") == 2 }, "the revalidation is under way")
            #expect(try await h.send("PUT", "/d/7").status == 204)
            written.withLock { $0 = true }
            #expect(try await eventually { h.proxy.engine.revalidations.load(ordering: .relaxed) == 0 }, "the revalidation ended")
            let after = try await h.get("/d/7")
            #expect(after.text == #"{"v":2}"# && after.header("X-Cache") == "MISS", "\(after.header("X-Cache") ?? "") \(after.text)")
        }
    }

    /// A stale entry with validators is revalidated with a conditional request; the
    /// upstream's 304 refreshes the stored headers and freshness, the body stays.
    @Test func staleEntryIsRevalidatedAnd304RefreshesIt() async throws {
        try await withProxy(routes: Self.route) { h in
            let conditionals = Mutex<[String?]>([])
            h.origin.on("GET", "/d/3") { req in
                conditionals.withLock { $0.append(req.header("If-None-Match")) }
                if req.header("If-None-Match") == Self.etag {
                    return OriginResponse(status: 304, headers: [("ETag", Self.etag), ("X-Version", "refreshed")])
                }
                return .json(#"{"body":"original"}"#, headers: [("ETag", Self.etag), ("X-Version", "first")])
            }
            _ = try await h.get("/d/3")
            h.clock.advance(by: .seconds(15))
            let revalidated = try await h.get("/d/3")
            #expect(revalidated.status == 200)
            #expect(revalidated.text == #"{"body":"original"}"#)
            #expect(revalidated.header("X-Version") == "refreshed")
            // Served from the store but forwarded first: RFC 9211 has no `hit` for it.
            #expect(revalidated.header("X-Cache") == "HIT" && revalidated.header("Cache-Status") == "sidecache; fwd=stale; fwd-status=304; ttl=10")
            let client304 = try await h.get("/d/3", headers: [("If-None-Match", Self.etag)])
            #expect(client304.status == 304 && client304.header("Cache-Status") == "sidecache; hit; ttl=10")
            #expect(conditionals.withLock { $0 } == [nil, Self.etag])
            // Fresh again for another ttl: no upstream request.
            h.clock.advance(by: .seconds(5))
            let hit = try await h.get("/d/3")
            #expect(hit.header("X-Cache") == "HIT" && hit.header("X-Version") == "refreshed")
            #expect(h.origin.count(path: "/d/3") == 2)
        }
    }

    /// A 304 that makes the stored answer unstorable (`Set-Cookie`, `private`): its client
    /// gets the answer as the 304 updated it, and nothing is kept. It was answered as
    /// stored: the session the `Set-Cookie` rotated was lost, and the `private` was not
    /// said to the browser or CDN in front.
    @Test(arguments: [("Set-Cookie", "sid=rotated"), ("Cache-Control", "private")])
    func a304ThatMakesTheAnswerUnstorableReachesItsClientAndKeepsNothing(field: String, value: String) async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/9") { req in
                if req.header("If-None-Match") == Self.etag { return OriginResponse(status: 304, headers: [("ETag", Self.etag), (field, value)]) }
                return .json(#"{"body":"original"}"#, headers: [("ETag", Self.etag)])
            }
            _ = try await h.get("/d/9")
            h.clock.advance(by: .seconds(15))
            let revalidated = try await h.get("/d/9")
            #expect(revalidated.status == 200 && revalidated.text == #"{"body":"original"}"#)
            #expect(revalidated.headers(field).contains(value), "\(revalidated.headers)")
            _ = try await h.get("/d/9")
            #expect(h.origin.count(path: "/d/9") == 3, "nothing kept: the next request revalidates again")
        }
    }

    /// RFC 9111 §4.3.4: a 304 naming another representation (another ETag, or without
    /// one another Last-Modified) updates nothing. Merged, the stored body was served
    /// fresh under the other's tag, and a client holding that tag was told it had it.
    /// The stored answer is given once as it was, then fetched in full.
    @Test(arguments: [("ETag", #""B""#), ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")])
    func a304NamingAnotherRepresentationUpdatesNothing(field: String, value: String) async throws {
        try await withProxy(routes: Self.route) { h in
            let fetches = Mutex(0)
            h.origin.on("GET", "/d/6") { req in
                let n = fetches.withLock { $0 += 1; return $0 }
                if n == 2 { return OriginResponse(status: 304, headers: [(field, value), ("X-Version", "confirmed")]) }
                let validator = field == "ETag" ? ("ETag", #""A""#) : ("Last-Modified", "Sat, 05 Nov 1994 08:49:37 GMT")
                return .json(#"{"n":\#(n)}"#, headers: [validator, ("X-Version", "full")])
            }
            _ = try await h.get("/d/6")
            h.clock.advance(by: .seconds(15))
            let once = try await h.get("/d/6")
            #expect(once.text == #"{"n":1}"# && once.header("X-Version") == "full" && once.header(field) != value
                    && once.header("X-Cache") == "STALE",
                    "the stored answer as it was: \(once.header("X-Version") ?? "-") \(once.header(field) ?? "-")")
            let next = try await h.get("/d/6")
            #expect(next.text == #"{"n":3}"#, "fetched in full, not served as confirmed")
            #expect(h.origin.count(path: "/d/6") == 3)
        }
    }

    /// A 304 to a fill that sent no validators (the entry has none; it is kept past its
    /// freshness for stale-if-error) confirms nothing: it is the upstream's mistake, an
    /// upstream error. Taken as a confirmation it stored the old body as fresh again.
    @Test func a304ToAFillWithoutValidatorsIsAnUpstreamError() async throws {
        let routes = #"[{ "name": "d", "match": "GET /d/{id}", "ttl": "10s", "staleIfError": "1h" }]"#
        try await withProxy(routes: routes) { h in
            let fetches = Mutex(0)
            h.origin.on("GET", "/d/4") { _ in
                fetches.withLock { $0 += 1; return $0 } == 1 ? .json(#"{"body":"original"}"#) : OriginResponse(status: 304)
            }
            h.origin.on("GET", "/d/5", OriginResponse(status: 304))
            _ = try await h.get("/d/4")
            h.clock.advance(by: .seconds(15))
            for _ in 0..<2 {
                let stale = try await h.get("/d/4")
                #expect(stale.status == 200 && stale.header("X-Cache") == "STALE" && stale.text == #"{"body":"original"}"#)
            }
            #expect(h.origin.count(path: "/d/4") == 3, "not refreshed by the 304")
            // Nothing stored to fall back on: the client gets the error, not a bodyless 304.
            #expect(try await h.get("/d/5", headers: [("If-None-Match", #""x""#)]).status == 502)
        }
    }

    /// A 304 is an answer like any other for freshness (RFC 9111 §4.2.3, §4.3.4): its
    /// `Age` counts (it came through another cache), and without a `Date` of its own it
    /// is dated by its arrival — never by the stored answer's old `Date`, which made the
    /// refreshed entry stale at once and sent every request upstream.
    @Test(arguments: ["its Age counts", "the old Date does not"])
    func aRefreshingAnswerDatesTheEntry(what: String) async throws {
        try await withProxy(routes: Self.route) { h in
            let clock = h.clock
            h.origin.on("GET", "/d/11") { req in
                if req.header("If-None-Match") == Self.etag {
                    return OriginResponse(status: 304, headers: [("ETag", Self.etag)] + (what == "its Age counts" ? [("Age", "8")] : []))
                }
                let dated = what == "the old Date does not" ? [("Date", HTTPDate.format(clock.now()))] : []
                return .json("{}", headers: [("ETag", Self.etag)] + dated)
            }
            _ = try await h.get("/d/11")
            h.clock.advance(by: .seconds(15))
            #expect(try await h.get("/d/11").status == 200)
            #expect(h.origin.count(path: "/d/11") == 2, "revalidated")
            h.clock.advance(by: .seconds(3))
            _ = try await h.get("/d/11")
            if what == "its Age counts" {
                #expect(h.origin.count(path: "/d/11") == 3, "8 s old when it came, 11 s at this request: stale, revalidated again")
            } else {
                #expect(h.origin.count(path: "/d/11") == 2, "fresh for the route's 10 s from the 304's arrival")
            }
        }
    }

    /// RFC 9111 §4.3.1: an entry that varies (its key holds the learned `Vary` header) is
    /// revalidated like any other, each variant with its own validator; a 304 refreshes
    /// that variant only.
    @Test func aVaryingEntryIsRevalidatedPerVariant() async throws {
        try await withProxy(routes: Self.route) { h in
            let conditionals = Mutex<[String]>([])
            h.origin.on("GET", "/d/9") { req in
                let language = req.header("Accept-Language") ?? "en"
                let tag = #""\#(language)-1""#
                if let inm = req.header("If-None-Match") {
                    conditionals.withLock { $0.append(inm) }
                    if inm == tag { return OriginResponse(status: 304, headers: [("ETag", tag), ("Vary", "Accept-Language")]) }
                }
                return .json(#"{"lang":"\#(language)"}"#, headers: [("ETag", tag), ("Vary", "Accept-Language")])
            }
            let fr = [("Accept-Language", "fr")], de = [("Accept-Language", "de")]
            _ = try await h.get("/d/9", headers: fr)      // learns Vary: Accept-Language
            _ = try await h.get("/d/9", headers: fr)      // stored, keyed with it
            _ = try await h.get("/d/9", headers: de)
            #expect(try await h.get("/d/9", headers: fr).header("X-Cache") == "HIT")
            h.clock.advance(by: .seconds(15))
            let frAgain = try await h.get("/d/9", headers: fr)
            #expect(frAgain.status == 200 && frAgain.text == #"{"lang":"fr"}"#)
            let deAgain = try await h.get("/d/9", headers: de)
            #expect(deAgain.text == #"{"lang":"de"}"#)
            #expect(conditionals.withLock { $0 } == [#""fr-1""#, #""de-1""#], "each variant sent its own validator")
            #expect(try await h.get("/d/9", headers: fr).header("X-Cache") == "HIT", "fresh again after the 304")
        }
    }

    /// With Redis the refreshed entry is committed asynchronously, after the upstream's
    /// 304 has ended: the client still gets the refreshed answer, not an empty one.
    @Test func revalidationAnswersWhenTheStoreCommitsLater() async throws {
        try await withRedisServer { redis in
            let store = "\"store\": { \"redis\": \"\(redis.url)\", \"consistency\": \"strict\" }"
            try await withProxy(routes: Self.route, extra: store) { h in
                #expect(try await eventually { h.proxy.redisReady })
                h.origin.on("GET", "/d/5") { req in
                    if req.header("If-None-Match") == Self.etag {
                        return OriginResponse(status: 304, headers: [("ETag", Self.etag), ("X-Version", "refreshed")])
                    }
                    return .json(#"{"body":"original"}"#, headers: [("ETag", Self.etag), ("X-Version", "first")])
                }
                _ = try await h.get("/d/5")
                h.clock.advance(by: .seconds(15))
                for _ in 0..<5 {   // each one revalidates once more: the entry is stale again every time
                    let revalidated = try await h.get("/d/5")
                    #expect(revalidated.status == 200)
                    #expect(revalidated.text == #"{"body":"original"}"#)
                    #expect(revalidated.header("X-Version") == "refreshed")
                    h.clock.advance(by: .seconds(15))
                }
            }
        }
    }

    /// The fill asks for the whole answer; its own client then gets the 304 its
    /// validators earn, as a hit's does (it got a 200 while the next identical request
    /// got a 304), labelled a miss.
    @Test func clientsOwnValidatorsAreNotSentOnAFillButAnswered() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/d/4", .json("{}", headers: [("ETag", Self.etag)]))
            let r = try await h.get("/d/4", headers: [("If-None-Match", Self.etag)])
            #expect(h.origin.requests.first?.header("If-None-Match") == nil)
            #expect(r.status == 304 && r.body.isEmpty && r.header("ETag") == Self.etag)
            #expect(r.header("X-Cache") == "MISS" && r.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            #expect(try await h.get("/d/4", headers: [("If-None-Match", Self.etag)]).status == 304)
            #expect(try await h.get("/d/4").text == "{}")
            #expect(h.origin.count(path: "/d/4") == 1)
        }
    }
}

@Suite("ttl: origin — request directives and RFC 9111 freshness")
struct OriginRouteTests {
    static let route = #"[{ "name": "o", "match": "GET /o/{id}", "ttl": "origin" }]"#

    @Test func onlyIfCachedWithNothingStoredIs504() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/o/1", .json("{}", headers: [("Cache-Control", "max-age=60")]))
            let r = try await h.get("/o/1", headers: [("Cache-Control", "only-if-cached")])
            #expect(r.status == 504)
            #expect(r.text.contains("only_if_cached"))
            #expect(r.header("X-Cache") == "MISS" && r.header("Cache-Status") == "sidecache; detail=only-if-cached")
            let counted = prometheusSamples(h.proxy.engine.metrics.scrape(l1Entries: 0, l1Bytes: 0, redisUp: nil))
            #expect(counted[#"sidecache_requests_total{route="o",cache="miss"}"#] == 1, "counted as its X-Cache says")
            #expect(h.origin.totalCount == 0)
            _ = try await h.get("/o/1")
            #expect(try await h.get("/o/1", headers: [("Cache-Control", "only-if-cached")]).status == 200)
        }
    }

    @Test(arguments: [("Cache-Control", "no-cache"), ("Pragma", "no-cache"), ("Cache-Control", "max-age=5")])
    func requestDirectivesForceAFetch(header: String, value: String) async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/o/2", .json("{}", headers: [("Cache-Control", "max-age=60")]))
            _ = try await h.get("/o/2")
            h.clock.advance(by: .seconds(10))
            #expect(try await h.get("/o/2").header("X-Cache") == "HIT")
            let forced = try await h.get("/o/2", headers: [(header, value)])
            #expect(forced.header("X-Cache") == "MISS")
            #expect(h.origin.count(path: "/o/2") == 2)
        }
    }

    @Test func durationRoutesIgnoreTheClientsDirectives() async throws {
        try await withProxy(routes: #"[{ "name": "d", "match": "GET /d/{id}", "ttl": "1m" }]"#) { h in
            h.origin.on("GET", "/d/1", .json("{}"))
            _ = try await h.get("/d/1")
            #expect(try await h.get("/d/1", headers: [("Cache-Control", "no-cache")]).header("X-Cache") == "HIT")
            #expect(try await h.get("/d/1", headers: [("Pragma", "no-cache")]).header("X-Cache") == "HIT")
        }
    }

    @Test func noExplicitFreshnessIsNotStored() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/o/3", .json("{}"))
            _ = try await h.get("/o/3")
            #expect(try await h.get("/o/3").header("Cache-Status") == "sidecache; fwd=uri-miss; detail=no-freshness")
        }
    }

    /// `no-cache` on an origin route: stored, but every use revalidated upstream.
    @Test func noCacheAnswersAreRevalidatedEveryTime() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/o/5") { req in
                if req.header("If-None-Match") == #""e5""# { return OriginResponse(status: 304, headers: [("ETag", #""e5""#)]) }
                return .json(#"{"full":true}"#, headers: [("Cache-Control", "no-cache"), ("ETag", #""e5""#)])
            }
            _ = try await h.get("/o/5")
            for _ in 0..<3 {
                let r = try await h.get("/o/5")
                #expect(r.status == 200 && r.text == #"{"full":true}"#)
                #expect(r.header("Cache-Status")?.hasPrefix("sidecache; fwd=stale; fwd-status=304; ttl=") == true)
            }
            let mine = try await h.get("/o/5", headers: [("If-None-Match", #""e5""#)])
            #expect(mine.status == 304 && mine.header("Cache-Status")?.hasPrefix("sidecache; fwd=stale; fwd-status=304") == true)
            let seen = h.origin.requests.map { $0.header("If-None-Match") }
            #expect(seen == [nil, #""e5""#, #""e5""#, #""e5""#, #""e5""#])
        }
    }

    /// The audit's: a client's `no-cache` revalidated a fresh entry, and the upstream's
    /// 304 now said `private` (or `no-store`, or rotated a `Set-Cookie`). Its client got
    /// the answer as updated, and the entry stayed: every other client was served the
    /// old answer as fresh until its old `max-age` ran out. The upstream's new word
    /// removes it. A request that keeps its own answer out (its `no-store`) removes
    /// nothing: one client does not empty the cache for the others.
    @Test(arguments: [("Cache-Control", "max-age=60, private"), ("Cache-Control", "no-store"), ("Set-Cookie", "sid=1")])
    func a304ThatMakesAFreshEntryUnstorableRemovesIt(field: String, value: String) async throws {
        try await withProxy(routes: Self.route) { (h: ProxyHarness) async throws in
            h.origin.on("GET", "/o/6") { req in
                if req.header("If-None-Match") == #""e6""# { return OriginResponse(status: 304, headers: [("ETag", #""e6""#), (field, value)]) }
                return .json(#"{"v":1}"#, headers: [("Cache-Control", "max-age=60"), ("ETag", #""e6""#)])
            }
            h.origin.on("GET", "/o/7") { req in
                if req.header("If-None-Match") == #""e7""# { return OriginResponse(status: 304, headers: [("ETag", #""e7""#)]) }
                return .json(#"{"v":1}"#, headers: [("Cache-Control", "max-age=60"), ("ETag", #""e7""#)])
            }
            for path in ["/o/6", "/o/7"] { _ = try await h.get(path) }
            let revalidated = try await h.get("/o/6", headers: [("Cache-Control", "no-cache")])
            #expect(revalidated.status == 200 && revalidated.headers(field).contains(value))
            let next = try await h.get("/o/6")
            #expect(next.header("X-Cache") == "MISS" && h.origin.count(path: "/o/6") == 3, "\(next.headers)")

            _ = try await h.get("/o/7", headers: [("Cache-Control", "no-cache, no-store")])
            #expect(try await h.get("/o/7").header("X-Cache") == "HIT", "one request's no-store removes nothing")
        }
    }

    /// The review's: on a `shared` route, a 304 that rotates a session's cookie (or says
    /// `private`) to a request that carried credentials says nothing of the answer the
    /// others share: any client with a cookie emptied the entry for everyone.
    @Test(arguments: [("Set-Cookie", "sess=rotated"), ("Cache-Control", "max-age=60, private")])
    func a304ToACredentialedRequestRemovesNothing(field: String, value: String) async throws {
        let route = #"[{ "name": "s", "match": "GET /s/{id}", "ttl": "origin", "shared": true }]"#
        try await withProxy(routes: route) { (h: ProxyHarness) async throws in
            h.origin.on("GET", "/s/8") { req in
                if req.header("If-None-Match") == #""e8""# {
                    return OriginResponse(status: 304, headers: [("ETag", #""e8""#)] + (req.header("Cookie") != nil ? [(field, value)] : []))
                }
                return .json(#"{"v":1}"#, headers: [("Cache-Control", "max-age=60"), ("ETag", #""e8""#)])
            }
            _ = try await h.get("/s/8")
            let session = try await h.get("/s/8", headers: [("Cache-Control", "no-cache"), ("Cookie", "s=1")])
            #expect(session.headers(field).contains(value), "revalidated: \(session.headers)")
            #expect(try await h.get("/s/8").header("X-Cache") == "HIT", "a session's 304 removes nothing")
        }
    }

    @Test func targetedFieldTakesPrecedence() async throws {
        try await withProxy(routes: Self.route) { h in
            h.origin.on("GET", "/o/4", .json("{}", headers: [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")]))
            _ = try await h.get("/o/4")
            #expect(try await h.get("/o/4").header("X-Cache") == "HIT")
        }
    }
}

@Suite("Vary: variants never answer for each other")
struct VaryTests {
    @Test func upstreamVaryBecomesPartOfTheKey() async throws {
        try await withProxy(routes: #"[{ "name": "v", "match": "GET /v", "ttl": "5m" }]"#) { h in
            h.origin.on("GET", "/v") { req in
                .text("lang=" + (req.header("Accept-Language") ?? "none"), headers: [("Vary", "Accept-Language")])
            }
            let en = [("Accept-Language", "en")]
            #expect(try await h.get("/v", headers: en).header("Cache-Status") == "sidecache; fwd=uri-miss; detail=vary")
            #expect(try await h.get("/v", headers: en).header("X-Cache") == "MISS")   // stored now, under a key with the header
            #expect(try await h.get("/v", headers: en).text == "lang=en")
            let de = try await h.get("/v", headers: [("Accept-Language", "de")])
            #expect(de.text == "lang=de" && de.header("X-Cache") == "MISS")
            #expect(try await h.get("/v", headers: [("Accept-Language", "de")]).header("X-Cache") == "HIT")
            #expect(try await h.get("/v", headers: en).text == "lang=en")
            #expect(try await h.get("/v").text == "lang=none")
        }
    }

    /// A `Vary` the key cannot follow (members without commas, a header the proxy
    /// writes itself) is never stored: keyed on it, every client shared the first
    /// stored answer, an admin's body served to a guest.
    @Test(arguments: [("X-Role X-Tenant", "X-Role"), ("X-Request-Id", "X-Request-Id")])
    func aVaryTheKeyCannotFollowIsNotStored(vary: String, header: String) async throws {
        try await withProxy(routes: #"[{ "name": "v", "match": "GET /v", "ttl": "5m" }]"#) { h in
            h.origin.on("GET", "/v") { req in .text("for " + (req.header(header) ?? "nobody"), headers: [("Vary", vary)]) }
            for _ in 0..<3 { _ = try await h.get("/v", headers: [(header, "admin")]) }
            let guest = try await h.get("/v", headers: [(header, "guest")])
            #expect(guest.text == "for guest" && guest.header("X-Cache") == "MISS")
            #expect(h.origin.count("GET", path: "/v") == 4)
        }
    }

    @Test func headerValuesAreWhitespaceNormalised() async throws {
        try await withProxy(routes: #"[{ "name": "v", "match": "GET /v", "ttl": "5m", "key": { "headers": ["Accept-Encoding"] } }]"#) { h in
            h.origin.on("GET", "/v", .text("x", headers: [("Vary", "Accept-Encoding")]))
            _ = try await h.get("/v", headers: [("Accept-Encoding", "gzip, br")])
            #expect(try await h.get("/v", headers: [("Accept-Encoding", "gzip,br")]).header("X-Cache") == "HIT")
            #expect(try await h.get("/v", headers: [("Accept-Encoding", "br")]).header("X-Cache") == "MISS")
        }
    }
}
