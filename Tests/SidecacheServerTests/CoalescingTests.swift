import Testing
@testable import SidecacheMetrics
@testable import SidecacheServer
import SidecacheTestSupport
import Synchronization

@Suite("Coalescing: one upstream fetch per key at a time")
struct CoalescingTests {
    static let route = #"[{ "name": "item", "match": "GET /items/{id}", "ttl": "5m" }]"#

    /// Requests of route `item` that are waiting on another's fill (an event, not a time).
    static func waiting(_ h: ProxyHarness) -> Int { h.proxy.engine.metrics.routes.stats(for: "item").coalescedCount }

    /// Holds the origin's answer until `release` is called, so misses really overlap.
    final class Gate: Sendable {
        let stream: AsyncStream<Void>
        let continuation: AsyncStream<Void>.Continuation
        init() { (stream, continuation) = AsyncStream.makeStream(of: Void.self) }
        func wait() async { for await _ in stream { return } }
        func release() { continuation.finish() }
    }

    @Test func concurrentMissesMakeOneUpstreamRequest() async throws {
        try await withProxy(routes: Self.route) { h in
            let gate = Gate()
            h.origin.on("GET", "/items/1") { _ in await gate.wait(); return .json(#"{"id":1}"#) }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<20 { group.addTask { try await h.get("/items/1") } }
                // Every request is in: one at the origin, nineteen waiting on it.
                #expect(try await eventually { h.origin.count(path: "/items/1") == 1 && Self.waiting(h) == 19 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 20)
            #expect(answers.allSatisfy { $0.status == 200 && $0.text == #"{"id":1}"# })
            #expect(h.origin.count(path: "/items/1") == 1)
            #expect(answers.filter { $0.header("X-Cache") == "MISS" }.count == 1)
        }
    }

    /// Browser reloads ask `Cache-Control: no-cache` (or `max-age=0`, or `Pragma`): on an
    /// origin route each is a fetch, but concurrent ones are still one fill, and its
    /// answer serves every waiter (RFC 9111 §4, collapsed requests). Each waiter looked
    /// up after the fill, read its own `no-cache` again and fetched: 1 + 9 fetches.
    @Test(arguments: [("Cache-Control", "no-cache"), ("Cache-Control", "max-age=0"), ("Pragma", "no-cache")])
    func concurrentReloadsOnAnOriginRouteMakeOneUpstreamRequest(name: String, value: String) async throws {
        let route = #"[{ "name": "item", "match": "GET /items/{id}", "ttl": "origin" }]"#
        try await withProxy(routes: route) { h in
            let gate = Gate()
            let served = Atomic<Int>(0)
            h.origin.on("GET", "/items/9") { _ in
                if served.add(1, ordering: .relaxed).newValue == 2 { await gate.wait() }
                // Five seconds old when it comes: older than `max-age=0` asks, however soon.
                return .json(#"{"id":9}"#, headers: [("Cache-Control", "max-age=60"), ("Age", "5")])
            }
            #expect(try await h.get("/items/9").header("X-Cache") == "MISS")   // stored, fresh
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<10 { group.addTask { try await h.get("/items/9", headers: [(name, value)]) } }
                #expect(try await eventually { h.origin.count(path: "/items/9") == 2 && Self.waiting(h) == 9 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 10 && answers.allSatisfy { $0.status == 200 && $0.text == #"{"id":9}"# })
            #expect(h.origin.count(path: "/items/9") == 2, "one fetch before, one for the ten reloads")
        }
    }

    /// The coalescing audit's: a client whose request made the upstream break off (here
    /// it aborts on `X-Debug`, a field the key does not read) had every request waiting
    /// on its fill answered 502. They queue again, and one of them fetches for all.
    @Test func waitersOfAFillTheUpstreamBrokeOffQueueAgain() async throws {
        try await withProxy(routes: Self.route) { h in
            let gate = Gate()
            h.origin.on("GET", "/items/5") { req in
                if req.header("X-Debug") != nil { await gate.wait(); return .abort }
                return .json(#"{"id":5}"#)
            }
            let (leader, waiters) = try await withThrowingTaskGroup(of: (Bool, TestResponse).self) { group in
                group.addTask { (true, try await h.get("/items/5", headers: [("X-Debug", "1")])) }
                #expect(try await eventually { h.origin.count(path: "/items/5") == 1 })
                for _ in 0..<4 { group.addTask { (false, try await h.get("/items/5")) } }
                #expect(try await eventually { Self.waiting(h) == 4 })
                gate.release()
                let all = try await group.reduce(into: []) { $0.append($1) }
                return (all.filter { $0.0 }.map(\.1), all.filter { !$0.0 }.map(\.1))
            }
            #expect(leader.map(\.status) == [502])
            #expect(waiters.count == 4 && waiters.allSatisfy { $0.status == 200 && $0.text == #"{"id":5}"# },
                    "\(waiters.map(\.status))")
            #expect(h.origin.count(path: "/items/5") == 2, "the leader's, then one for the four")
        }
    }

    /// Hit-for-miss: when the answer is not storable, waiters fetch on their own
    /// instead of queueing one behind another.
    @Test func waitersOfAnUncacheableAnswerFetchOnTheirOwn() async throws {
        try await withProxy(routes: Self.route) { h in
            let gate = Gate()
            let secondGate = Gate()
            let served = Mutex(0)
            h.origin.on("GET", "/items/2") { _ in
                let n = served.withLock { $0 += 1; return $0 }
                if n == 1 { await gate.wait() }
                if n > 5 { await secondGate.wait() }
                return .json("{}", headers: [("Cache-Control", "no-store")])
            }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<5 { group.addTask { try await h.get("/items/2") } }
                #expect(try await eventually { h.origin.count(path: "/items/2") == 1 && Self.waiting(h) == 4 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == 200 })
            #expect(h.origin.count(path: "/items/2") == 5)
            // Remembered as not storable: later misses do not queue at all. All five reach
            // the origin while it holds them, none waits (the README audit: without the
            // hold, five fetches also came from one leader and four waiters fetching after).
            let later = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<5 { group.addTask { try await h.get("/items/2").status } }
                #expect(try await eventually { h.origin.count(path: "/items/2") == 10 }, "\(h.origin.count(path: "/items/2")) fetched")
                #expect(Self.waiting(h) == 4, "no later miss waited")
                secondGate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(later == [200, 200, 200, 200, 200])
            #expect(h.origin.count(path: "/items/2") == 10)
        }
    }

    /// DESIGN (Traps): never hand a waiter an answer varied on headers it does not share.
    /// The leader's answer says `Vary: X-Lang`, which the key did not read: the four
    /// waiters (German, English, French) fetch on their own, and each gets its own
    /// language's answer; after that, each language is stored apart. (The
    /// test-quality audit: only the state machine was tested; end to end, the waiter
    /// path was tested with `no-store` alone.)
    @Test func waitersOfAnAnswerVariedOnANewHeaderFetchTheirOwn() async throws {
        try await withProxy(routes: Self.route) { h in
            let gate = Gate()
            let served = Mutex(0)
            h.origin.on("GET", "/items/3") { req in
                if served.withLock({ $0 += 1; return $0 }) == 1 { await gate.wait() }
                return .text("lang:" + (req.header("X-Lang") ?? "-"), headers: [("Vary", "X-Lang")])
            }
            @Sendable func get(_ lang: String) async throws -> (String, TestResponse) {
                (lang, try await h.get("/items/3", headers: [("X-Lang", lang)]))
            }
            let answers = try await withThrowingTaskGroup(of: (String, TestResponse).self) { group in
                group.addTask { try await get("en") }
                #expect(try await eventually { h.origin.count(path: "/items/3") == 1 })
                for lang in ["de", "de", "en", "fr"] { group.addTask { try await get(lang) } }
                #expect(try await eventually { Self.waiting(h) == 4 }, "the four wait on the leader: \(Self.waiting(h))")
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 5)
            for (lang, answer) in answers { #expect(answer.text == "lang:" + lang, "X-Lang: \(lang) got \(answer.text)") }
            // Their keys, made before `X-Lang` was learned, did not read it: nothing was
            // stored. The next request of each language keys on it and stores its own.
            for lang in ["en", "de", "fr"] {
                let next = try await h.get("/items/3", headers: [("X-Lang", lang)])
                #expect(next.text == "lang:" + lang && next.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                let again = try await h.get("/items/3", headers: [("X-Lang", lang)])
                #expect(again.text == "lang:" + lang && again.header("X-Cache") == "HIT", "\(lang): \(again.text)")
            }
        }
    }

    /// An upstream that breaks off every request: the waiters try once more, together
    /// (the leader's request alone may have caused it), then answer with the error
    /// instead of each fetching again. Two fetches for four clients.
    @Test func waitersGetTheLeadersErrorWhenTheUpstreamFails() async throws {
        try await withProxy(routes: Self.route) { h in
            let gate = Gate()
            h.origin.on("GET", "/items/3") { _ in await gate.wait(); return .abort }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<4 { group.addTask { try await h.get("/items/3") } }
                #expect(try await eventually { h.origin.count(path: "/items/3") == 1 && Self.waiting(h) == 3 })
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.map(\.status) == [502, 502, 502, 502])
            #expect(answers.allSatisfy { $0.text.contains("upstream_unavailable") })
            #expect(answers.allSatisfy { $0.header("X-Cache") == "MISS" && $0.header("Cache-Status") == "sidecache; fwd=uri-miss" })
            #expect(h.origin.count(path: "/items/3") == 2)
        }
    }

    /// A request that arrives after a purge never joins a fill that began before it.
    @Test func aRequestAfterAPurgeDoesNotJoinAnOlderFill() async throws {
        try await withProxy(routes: Self.route,
                            purge: #"[{ "on": "PUT /items/{id}", "paths": ["/items/{id}"] }]"#) { h in
            let gate = Gate()
            let version = Mutex(1)
            h.origin.on("GET", "/items/4") { _ in
                let v = version.withLock { $0 }
                if v == 1 { await gate.wait() }
                return .json(#"{"v":\#(v)}"#)
            }
            h.origin.on("PUT", "/items/4") { _ in version.withLock { $0 = 2 }; return .json("{}") }
            async let early = h.get("/items/4")
            #expect(try await eventually { h.origin.count("GET", path: "/items/4") == 1 })
            #expect(try await h.send("PUT", "/items/4", body: []).status == 200)
            let late = try await h.get("/items/4")       // must not wait for (and get) v1
            #expect(late.text == #"{"v":2}"#)
            gate.release()
            #expect(try await early.text == #"{"v":1}"#)
            #expect(try await h.get("/items/4").text == #"{"v":2}"#)
        }
    }
}
