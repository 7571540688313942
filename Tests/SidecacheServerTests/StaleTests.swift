import Foundation
@testable import SidecacheServer
import Testing
import SidecacheTestSupport
import Synchronization

@Suite("Stale answers: while revalidating, and when the upstream fails")
struct StaleTests {
    /// The refresh is held at the origin while more stale hits come: each is answered
    /// at once from the stale entry, and none starts another refresh.
    @Test func staleWhileRevalidateServesAtOnceAndRefreshesOnce() async throws {
        try await withProxy(routes: #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "10s", "staleWhileRevalidate": "1m" }]"#) { h in
            let version = Mutex(1)
            let gate = CoalescingTests.Gate()
            h.origin.on("GET", "/i/1") { _ in
                if version.withLock({ $0 }) == 2 { await gate.wait() }
                return .json(#"{"v":\#(version.withLock { $0 })}"#)
            }
            _ = try await h.get("/i/1")
            version.withLock { $0 = 2 }
            h.clock.advance(by: .seconds(15))
            let stale = try await h.get("/i/1")
            #expect(stale.header("X-Cache") == "STALE")
            #expect(stale.text == #"{"v":1}"#)
            #expect(stale.header("Cache-Status") == "sidecache; hit; ttl=-5; detail=stale-while-revalidate")
            #expect(try await eventually { h.origin.count(path: "/i/1") == 2 })
            for _ in 0..<5 {
                let again = try await h.get("/i/1")
                #expect(again.header("X-Cache") == "STALE" && again.text == #"{"v":1}"#)
            }
            #expect(h.origin.count(path: "/i/1") == 2, "one background refresh, not one per stale hit")
            gate.release()
            #expect(try await eventually { try await h.get("/i/1").text == #"{"v":2}"# })
            #expect(h.origin.count(path: "/i/1") == 2)
        }
    }

    /// The hop-by-hop audit's: a background refresh carried the client's headers and
    /// dropped its `X-Forwarded-For`, adding no address: the upstream saw the proxy as
    /// the caller of a request it answered for everyone. It forwards as the fill did.
    @Test func aBackgroundRefreshSaysWhoItIsFor() async throws {
        try await withProxy(routes: #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "10s", "staleWhileRevalidate": "1m" }]"#) { h in
            h.origin.on("GET", "/i/3", .json("{}"))
            let forwarded = [(name: "X-Forwarded-For", value: "203.0.113.9")]
            _ = try await h.get("/i/3", headers: forwarded)
            h.clock.advance(by: .seconds(15))
            #expect(try await h.get("/i/3", headers: forwarded).header("X-Cache") == "STALE")
            #expect(try await eventually { h.origin.count(path: "/i/3") == 2 })
            let sent = h.origin.requests.filter { $0.path == "/i/3" }.map { $0.header("X-Forwarded-For") }
            #expect(sent == ["203.0.113.9, 127.0.0.1", "203.0.113.9, 127.0.0.1"], "\(sent)")
        }
    }

    /// Background refreshes are bounded across the process: one client walking stale
    /// keys on one connection started one upstream fetch per key (4 000 at once against
    /// a slow upstream, a descriptor each). Past the bound the stale answer goes out
    /// without a refresh; a finished refresh gives its place back.
    @Test func backgroundRefreshesAreBounded() async throws {
        try await withProxy(routes: #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "10s", "staleWhileRevalidate": "1m" }]"#) { h in
            let slow = Mutex(false), held = Mutex(true)
            h.origin.on("GET", "/i/*") { _ in
                if slow.withLock({ $0 }) { while held.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(20)) } }
                return .json("{}")
            }
            let keys = ProxyEngine.maxRevalidations + 16
            for k in 0..<keys { _ = try await h.get("/i/\(k)") }
            slow.withLock { $0 = true }
            h.clock.advance(by: .seconds(15))
            for k in 0..<keys { #expect(try await h.get("/i/\(k)").header("X-Cache") == "STALE") }
            let engine = h.proxy.engine
            #expect(try await eventually { h.origin.totalCount == keys + ProxyEngine.maxRevalidations })
            #expect(engine.revalidations.load(ordering: .relaxed) == ProxyEngine.maxRevalidations)
            for k in 0..<keys { _ = try await h.get("/i/\(k)") }
            #expect(h.origin.totalCount == keys + ProxyEngine.maxRevalidations, "no refresh past the bound")
            held.withLock { $0 = false }
            #expect(try await eventually { engine.revalidations.load(ordering: .relaxed) == 0 }, "finished ones gave their place back")
        }
    }

    @Test func upstreamDirectiveGivesTheStaleWindowToo() async throws {
        try await withProxy(routes: #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "origin" }]"#) { h in
            h.origin.on("GET", "/i/2", .json("{}", headers: [("Cache-Control", "max-age=10, stale-while-revalidate=60")]))
            _ = try await h.get("/i/2")
            h.clock.advance(by: .seconds(20))
            #expect(try await h.get("/i/2").header("X-Cache") == "STALE")
        }
    }

    @Test(arguments: ["down", "500", "timeout"])
    func staleIfErrorServesTheStoredAnswer(failure: String) async throws {
        // The timeout must be long enough for the first fill on a loaded machine, and the
        // "timeout" case's delay far past it.
        let routes = #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "10s", "staleIfError": "1h", "upstreamTimeout": "2s" }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/i/3", .json(#"{"ok":true}"#))
            let first = try await h.get("/i/3")
            #expect(first.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            h.clock.advance(by: .seconds(30))
            switch failure {
            case "down": try await h.origin.shutdown()
            case "500": h.origin.on("GET", "/i/3", .json(#"{"error":1}"#, status: 500))
            default: h.origin.on("GET", "/i/3", OriginResponse.json("{}").delayed(.seconds(20)))
            }
            let r = try await h.get("/i/3")
            #expect(r.status == 200)
            #expect(r.text == #"{"ok":true}"#)
            #expect(r.header("X-Cache") == "STALE")
            #expect(r.header("Cache-Status")?.hasSuffix("detail=stale-if-error") == true)
        }
    }

    /// A purge that lands while a stale entry's refresh is under way: when the refresh
    /// then fails, the purged entry is not the stale-if-error answer. It was: the
    /// mutation had been answered, and the request in flight still got the purged data.
    @Test func aPurgedEntryIsNotTheStaleIfErrorAnswer() async throws {
        let routes = #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "10s", "staleIfError": "1h", "upstreamTimeout": "20s" }]"#
        let purge = #"[{ "on": "PUT /i/{id}", "paths": ["/i/{id}"] }]"#
        try await withProxy(routes: routes, purge: purge) { h in
            h.origin.on("GET", "/i/6", .json(#"{"v":1}"#))
            h.origin.on("PUT", "/i/6", OriginResponse(status: 204))
            _ = try await h.get("/i/6")
            h.clock.advance(by: .seconds(30))
            // The refresh's failure is answered once the write's purge is done: by order,
            // not by a delay the write had to beat (it lost on a loaded machine).
            let written = Mutex(false)
            h.origin.on("GET", "/i/6") { _ in
                for _ in 0..<2000 where !written.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
                return OriginResponse.json(#"{"error":1}"#, status: 500)
            }
            let refresh = Task { try await h.get("/i/6") }
            #expect(try await eventually { h.origin.count("GET", path: "/i/6") == 2 }, "the refresh is under way")
            #expect(try await h.send("PUT", "/i/6").status == 204)
            written.withLock { $0 = true }
            let r = try await refresh.value
            #expect(r.text != #"{"v":1}"# && r.header("X-Cache") != "STALE", "the purged entry came back: \(r.status) \(r.text)")
            #expect(r.status == 500, "the upstream's own answer, as without a stale entry")
        }
    }

    @Test func outsideTheStaleIfErrorWindowTheErrorShows() async throws {
        try await withProxy(routes: #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "10s", "staleIfError": "10s" }]"#) { h in
            h.origin.on("GET", "/i/4", .json("{}"))
            _ = try await h.get("/i/4")
            h.clock.advance(by: .seconds(25))
            try await h.origin.shutdown()
            let r = try await h.get("/i/4")
            #expect(r.status == 502)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String])
            #expect(json["error"] == "upstream_unavailable")
        }
    }

    /// On origin routes a client's `max-stale` takes an entry that stale (README's
    /// RFC 9111 table), and one background refresh runs, as for stale-while-revalidate;
    /// an answer that said `must-revalidate` is fetched again. (Entries with a validator
    /// are kept a lifetime past freshness; others are gone at once.)
    @Test func maxStaleTakesAStaleEntryTheAnswerAllows() async throws {
        try await withProxy(routes: #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "origin" }]"#) { h in
            for n in [6, 8] {
                h.origin.on("GET", "/i/\(n)", .json(#"{"v":\#(n)}"#, headers: [("Cache-Control", "max-age=10"), ("ETag", #""\#(n)""#)]))
            }
            h.origin.on("GET", "/i/7", .json(#"{"v":7}"#, headers: [("Cache-Control", "max-age=10, must-revalidate"), ("ETag", #""7""#)]))
            for n in 6...8 { _ = try await h.get("/i/\(n)") }
            h.clock.advance(by: .seconds(15))
            #expect(try await h.get("/i/8", headers: [("Cache-Control", "max-stale=3")]).header("X-Cache") == "MISS")
            #expect(h.origin.count("GET", path: "/i/8") == 2)
            #expect(try await h.get("/i/7", headers: [("Cache-Control", "max-stale")]).header("X-Cache") == "MISS")
            #expect(h.origin.count("GET", path: "/i/7") == 2)
            let accepted = try await h.get("/i/6", headers: [("Cache-Control", "max-stale=10")])
            #expect(accepted.header("X-Cache") == "STALE" && accepted.text == #"{"v":6}"#)
            #expect(accepted.header("Cache-Status")?.contains("detail=max-stale") == true, "\(accepted.header("Cache-Status") ?? "")")
            #expect(try await eventually { h.origin.count("GET", path: "/i/6") == 2 }, "refreshed in the background")
            #expect(try await eventually { try await h.get("/i/6").header("X-Cache") == "HIT" })
            #expect(h.origin.count("GET", path: "/i/6") == 2)
        }
    }

    @Test func mustRevalidateForbidsStaleAnswers() async throws {
        try await withProxy(routes: #"[{ "name": "i", "match": "GET /i/{id}", "ttl": "10s", "staleIfError": "1h" }]"#) { h in
            h.origin.on("GET", "/i/5", .json("{}", headers: [("Cache-Control", "must-revalidate")]))
            _ = try await h.get("/i/5")
            h.clock.advance(by: .seconds(20))
            try await h.origin.shutdown()
            #expect(try await h.get("/i/5").status == 502)
        }
    }
}
