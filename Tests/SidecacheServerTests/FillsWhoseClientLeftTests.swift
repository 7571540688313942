import Testing
@testable import SidecacheServer
import SidecacheTestSupport

/// A fill whose client resets its connection runs on to store its answer, for the
/// requests waiting on it and the next ones: cancelled, its waiters queued behind
/// another fetch, and clients that reset after each request sent one upstream apiece.
/// It holds its connection's place until it ends, however it ends.
@Suite("A fill whose client left runs on")
struct FillsWhoseClientLeftTests {
    typealias Gate = CoalescingTests.Gate

    @Test func theLeadersClientLeavingLeavesItsFillToItsWaiters() async throws {
        try await withProxy(routes: CoalescingTests.route) { h in
            let gate = Gate()
            h.origin.on("GET", "/items/1") { _ in await gate.wait(); return .json(#"{"id":1}"#) }
            let request = "GET /items/1 HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n"   // the key of h.get's requests
            let leader = try await RawConnection.connect(port: h.port)
            try await leader.send(request)
            #expect(try await eventually { h.origin.count(path: "/items/1") == 1 })
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<9 { group.addTask { try await h.get("/items/1") } }
                #expect(try await eventually { CoalescingTests.waiting(h) == 9 })
                try await leader.reset()
                // More clients join and reset in turn, as the audit's did. Had the fill been
                // cancelled, the nine would have queued again (the count past 9 at once).
                for joined in 10...14 {
                    let client = try await RawConnection.connect(port: h.port)
                    try await client.send(request)
                    #expect(try await eventually { CoalescingTests.waiting(h) == joined })
                    try await client.reset()
                }
                gate.release()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 9 && answers.allSatisfy { $0.status == 200 && $0.text == #"{"id":1}"# })
            #expect(h.origin.count(path: "/items/1") == 1, "one fetch for fifteen requests, six of them reset")
            let after = try await h.get("/items/1")
            #expect(after.header("X-Cache") == "HIT" && after.text == #"{"id":1}"#)
        }
    }

    /// Stored, not storable, or failed: the fill ends, and its connection's place under
    /// `limits.connections` is given back (held forever, the proxy would admit no one).
    @Test(arguments: ["stored", "not storable", "upstream fails"])
    func aFillWhoseClientLeftGivesItsPlaceBackWhenItEnds(_ how: String) async throws {
        try await withProxy(routes: CoalescingTests.route, extra: #""limits": { "connections": 1 }"#) { h in
            let gate = Gate()
            h.origin.on("GET", "/items/7") { _ in
                await gate.wait()
                switch how {
                case "stored": return .json(#"{"id":7}"#)
                case "not storable": return .json(#"{"id":7}"#, headers: [("Cache-Control", "no-store")])
                default: return .abort
                }
            }
            let leader = try await RawConnection.connect(port: h.port)
            try await leader.send("GET /items/7 HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n")
            #expect(try await eventually { h.origin.count(path: "/items/7") == 1 })
            try await leader.reset()
            gate.release()
            #expect(try await eventually(timeout: .seconds(30)) {
                (try? await TestHTTPClient.request(port: h.port, "GET", "/items/7").status) != nil
            })
            let after = try await h.get("/items/7")
            switch how {
            case "stored":
                #expect(after.header("X-Cache") == "HIT" && h.origin.count(path: "/items/7") == 1)
            case "not storable":
                #expect(after.status == 200 && after.header("X-Cache") == "MISS" && h.origin.count(path: "/items/7") >= 2)
            default:
                #expect(after.status == 502)
            }
        }
    }
}
