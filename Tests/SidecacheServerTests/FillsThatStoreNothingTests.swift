import Synchronization
import Testing
@testable import SidecacheMetrics
@testable import SidecacheServer
import SidecacheTestSupport

/// Misses that waited on a fill which stored nothing though its answer was storable:
/// a purge overtook it. They queue again (one fetches, the rest wait), never fetch all
/// at once, and never revalidate what the purge removed. (A fill whose client left runs
/// on: `FillsWhoseClientLeftTests`.)
@Suite("Coalescing when the fill waited on stores nothing")
struct FillsThatStoreNothingTests {
    typealias Gate = CoalescingTests.Gate

    @Test func aPurgeOvertakingTheFillDoesNotSendEveryWaiterUpstream() async throws {
        try await withProxy(routes: CoalescingTests.route) { h in
            let gate = Gate()
            let version = Atomic(1)
            h.origin.on("GET", "/items/5") { _ in await gate.wait(); return .text("v\(version.load(ordering: .relaxed))") }
            h.origin.on("PUT", "/items/5") { _ in version.store(2, ordering: .relaxed); return .text("ok") }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<10 { group.addTask { try await h.get("/items/5") } }
                #expect(try await eventually { h.origin.count("GET", path: "/items/5") == 1 && CoalescingTests.waiting(h) == 9 })
                #expect(try await h.send("PUT", "/items/5").status == 200)
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 10 && answers.allSatisfy { $0.status == 200 })
            #expect(h.origin.count("GET", path: "/items/5") == 2, "the overtaken fetch and one after the purge")
            let after = try await h.get("/items/5")
            #expect(after.header("X-Cache") == "HIT" && after.text == "v2", "the fill after the purge is stored")
        }
    }

    /// One request's `Cache-Control: no-store` keeps its own answer out; it says
    /// nothing of the next client's: the key is not remembered as not storable, and its
    /// misses still coalesce.
    @Test func oneRequestsNoStoreLeavesCoalescingOn() async throws {
        let route = #"[{ "name": "item", "match": "GET /items/{id}", "ttl": "origin" }]"#
        try await withProxy(routes: route) { h in
            let gate = Gate()
            let served = Atomic(0)
            h.origin.on("GET", "/items/9") { _ in
                if served.add(1, ordering: .relaxed).newValue == 2 { await gate.wait() }
                return .json("{}", headers: [("Cache-Control", "max-age=60")])
            }
            #expect(try await h.get("/items/9", headers: [("Cache-Control", "no-store")]).header("X-Cache") == "MISS")
            let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<10 { group.addTask { try await h.get("/items/9").status } }
                #expect(try await eventually { h.origin.count(path: "/items/9") == 2 && CoalescingTests.waiting(h) == 9 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers == Array(repeating: 200, count: 10))
            #expect(h.origin.count(path: "/items/9") == 2)
        }
    }

    /// The audit's: the `no-store` (or `Authorization`) request leads the fill and the
    /// plain misses wait on it. Its answer is kept out for its own reason, which says
    /// nothing of theirs: they queue again and one fetches, where each fetched on its own
    /// (101 upstream requests for a `no-store` and 100 plain misses).
    @Test(arguments: [("Cache-Control", "no-store"), ("Authorization", "Bearer a")])
    func theWaitersOfAFillOneRequestKeptOutQueueAgain(header: (String, String)) async throws {
        let route = #"[{ "name": "item", "match": "GET /items/{id}", "ttl": "origin", "shared": true }]"#
        try await withProxy(routes: route) { (h: ProxyHarness) async throws in
            let gate = Gate()
            let served = Atomic(0)
            h.origin.on("GET", "/items/3") { _ in
                if served.add(1, ordering: .relaxed).newValue == 1 { await gate.wait() }
                return .json("{}", headers: [("Cache-Control", "max-age=60")])
            }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                group.addTask { try await h.get("/items/3", headers: [(name: header.0, value: header.1)]) }
                #expect(try await eventually { h.origin.count(path: "/items/3") == 1 })
                for _ in 0..<10 { group.addTask { try await h.get("/items/3") } }
                #expect(try await eventually { CoalescingTests.waiting(h) == 10 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 11 && answers.allSatisfy { $0.status == 200 })
            #expect(h.origin.count(path: "/items/3") == 2, "the kept-out fetch and one for the waiters")
            #expect(try await h.get("/items/3").header("X-Cache") == "HIT")
        }
    }

    /// The review's: when the waiters are kept out the same way (every client sends the
    /// gateway's token), queueing again only makes rounds that each store nothing, one
    /// after another (1 s, 2 s, 3 s, 4 s for a 1 s upstream). They fetch at once, together.
    @Test(arguments: [("Cache-Control", "no-store"), ("Authorization", "Bearer a")])
    func waitersKeptOutTheSameWayFetchTogether(header: (String, String)) async throws {
        let route = #"[{ "name": "item", "match": "GET /items/{id}", "ttl": "origin", "shared": true }]"#
        try await withProxy(routes: route) { (h: ProxyHarness) async throws in
            let first = Gate(), rest = Gate()
            let served = Atomic(0), running = Atomic(0)
            h.origin.on("GET", "/items/4") { _ in
                if served.add(1, ordering: .relaxed).newValue == 1 {
                    await first.wait()
                } else {
                    running.add(1, ordering: .relaxed)
                    await rest.wait()
                }
                return .json("{}", headers: [("Cache-Control", "max-age=60")])
            }
            let kept = [(name: header.0, value: header.1)]
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<6 { group.addTask { try await h.get("/items/4", headers: kept) } }
                #expect(try await eventually { h.origin.count(path: "/items/4") == 1 && CoalescingTests.waiting(h) == 5 })
                first.release()
                #expect(try await eventually { running.load(ordering: .relaxed) == 5 }, "the five fetch together")
                rest.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 6 && answers.allSatisfy { $0.status == 200 })
        }
    }

    /// A stale entry purged while a request waited to revalidate it: that request must
    /// not send the purged entry's validators, or an upstream that still answers 304 to
    /// them would put the purged body back in the cache.
    @Test func aWaiterDoesNotRevalidateAnEntryPurgedWhileItWaited() async throws {
        let route = #"[{ "name": "d", "match": "GET /d/{id}", "ttl": "2s" }]"#
        try await withProxy(routes: route) { h in
            let gate = Gate()
            let version = Atomic(1)
            let gated = Atomic(false)
            h.origin.on("GET", "/d/1") { req in
                if gated.load(ordering: .relaxed) { await gate.wait() }
                // An upstream whose validators did not change with the data.
                if req.header("If-None-Match") != nil { return OriginResponse(status: 304, headers: [("ETag", #""e""#)]) }
                return .text("v\(version.load(ordering: .relaxed))", headers: [("ETag", #""e""#)])
            }
            h.origin.on("PUT", "/d/1") { _ in version.store(2, ordering: .relaxed); return .text("ok") }
            #expect(try await h.get("/d/1").text == "v1")
            h.clock.advance(by: .seconds(3))   // stale, with a validator: revalidated
            gated.store(true, ordering: .relaxed)
            let waits = h.proxy.engine.metrics.routes.stats(for: "d").coalescedCount
            async let first = h.get("/d/1")
            #expect(try await eventually { h.origin.count("GET", path: "/d/1") == 2 })
            async let second = h.get("/d/1")
            #expect(try await eventually { h.proxy.engine.metrics.routes.stats(for: "d").coalescedCount == waits + 1 })
            #expect(try await h.send("PUT", "/d/1").status == 200)
            gate.release()
            _ = try await (first, second)
            let conditional = h.origin.requests.filter { $0.method == "GET" && $0.header("If-None-Match") != nil }
            #expect(conditional.count == 1, "only the request that began before the purge revalidated")
            let after = try await h.get("/d/1")
            #expect(after.text == "v2", "the purged body is not back: \(after.header("X-Cache") ?? "-")")
        }
    }
}
