import Foundation
import SidecacheTestSupport
import Testing

/// A fresh hit that waits on Redis (strict mode's confirmation) is answered by the
/// connection once Redis is in (`FreshHit.Pending`), without an exchange: pipelined
/// requests behind it keep their order, and a client that leaves meanwhile is still
/// counted, as an exchange counts one.
@Suite("A hit waiting on Redis")
struct RedisHitPathTests {
    static func samples(_ p: RedisPair) async throws -> [String: Double] {
        prometheusSamples(try await adminCall(port: p.a.adminPort!, "GET", "/metrics", token: nil).text)
    }

    static let misses = #"sidecache_requests_total{route="user",cache="miss"}"#
    static let hits = #"sidecache_requests_total{route="user",cache="hit"}"#

    @Test func pipelinedHitsBehindAConfirmationAreAnsweredInOrder() async throws {
        try await withRedisPair { p in
            for id in 1...3 { p.origin.on("GET", "/api/users/\(id)", .json(#"{"id":\#(id)}"#)) }
            for id in 1...3 { #expect(try await p.get(p.portA, "/api/users/\(id)").status == 200) }
            let connection = try await RawConnection.connect(port: p.portA)
            try await connection.send((1...3).map { "GET /api/users/\($0) HTTP/1.1\r\nHost: api.example\r\n\r\n" }.joined())
            let answers = try await connection.readResponses(3)
            #expect(answers.map(\.text) == [#"{"id":1}"#, #"{"id":2}"#, #"{"id":3}"#])
            #expect(answers.map { $0.header("X-Cache") } == ["HIT", "HIT", "HIT"])
            #expect(p.origin.totalCount == 3)
            try await connection.close()
            #expect(try await Self.samples(p)[Self.hits] == 3)
        }
    }

    /// Redis paused: the confirmation is unanswered when the client leaves. Counted
    /// as a miss once Redis answers (nothing from the cache reached the client).
    @Test func aClientThatLeavesWhileRedisIsAskedIsCounted() async throws {
        try await withRedisPair(timeout: "30s") { p in
            p.origin.on("GET", "/api/users/1", .json(#"{"id":1}"#))
            #expect(try await p.get(p.portA, "/api/users/1").status == 200)
            #expect(try await Self.samples(p)[Self.misses] == 1)
            p.redis.pause()
            let connection = try await RawConnection.connect(port: p.portA)
            try await connection.send("GET /api/users/1 HTTP/1.1\r\nHost: api.example\r\n\r\n")
            try await Task.sleep(for: .seconds(1))   // read and waiting on Redis: nothing to observe that says so
            try await connection.reset()   // gone: a FIN alone would still be answered
            // The proxy must see the reset before Redis answers, or it answers the hit, and
            // rightly counts one: resumed at once, a loaded machine (a whole suite running)
            // let Redis's answer come first.
            try await Task.sleep(for: .seconds(1))
            p.redis.resume()
            #expect(try await eventually(timeout: .seconds(20)) { try await Self.samples(p)[Self.misses] == 2 })
            #expect(try await Self.samples(p)[Self.hits] == 0)
            #expect(try await p.get(p.portA, "/api/users/1").header("X-Cache") == "HIT", "the connection's end left the proxy whole")
        }
    }
}
