import SidecacheCore
import SidecacheTestSupport
import Testing

/// Redis holding entries this proxy did not write: never a client desynchronised.
@Suite("Redis hardening: forged entries", .serialized)
struct RedisHardeningTests {
    /// Framing a client would read by, that disagrees with the stored body. Each would
    /// make the client read too little (the rest arrives as an answer of its own), too
    /// much (the next answer is swallowed) or until the connection closes.
    static let forgedFraming: [(framing: String, body: String)] = [
        ("Content-Length: 50\r\n", "short"),
        ("Content-Length: 2\r\n", "hiHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"),
        ("Content-Length: 5\r\nContent-Length: 40\r\n", "short"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"),
        ("", "short"),
    ]

    /// A well-encoded entry written into Redis by someone else, under the right key and
    /// counters: a miss (and the corrupt-entry log line), and the client's keep-alive
    /// connection stays in step.
    @Test(arguments: forgedFraming)
    func forgedFramingInRedisIsAMiss(framing: String, body: String) async throws {
        try await withRedisPair(memory: "0") { p in
            p.origin.on("GET", "/api/users/*") { req in .text("real \(req.path)") }
            _ = try await p.get(p.portA, "/api/users/8")
            let keys = try await p.redis.cli("KEYS", "sidecache:e:*").split(separator: "\n").map(String.init)
            let key = try #require(keys.count == 1 ? keys.first : nil, "\(keys)")
            let stored = try #require(try await p.redis.bytes(key))
            let decoded = try #require(stored.withUnsafeBytes { EntryCodec.decode($0) })
            let head = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\(framing)".utf8)
            let forged = EntryCodec.header(status: 200, timing: decoded.timing, generations: decoded.generations,
                                           headLength: head.count, bodyLength: body.utf8.count) + head + Array(body.utf8)
            try await p.redis.set(key, bytes: forged)

            let connection = try await RawConnection.connect(port: p.portB)
            for path in ["/api/users/8", "/api/users/9"] {
                try await connection.send("GET \(path) HTTP/1.1\r\nHost: api.example\r\n\r\n")
                let answer = try #require(try await connection.readResponses(1, timeout: .seconds(5)).first, "no answer to \(path)")
                #expect(answer.text == "real \(path)")
                #expect(answer.header("X-Cache") == "MISS")
                #expect(answer.headers("Content-Length") == [String(answer.body.count)])
                #expect(answer.headers("Transfer-Encoding").isEmpty)
            }
            #expect(!connection.isClosed)
            try await connection.close()
            #expect(p.logs.all.contains { $0.contains("undecodable entry") })
        }
    }
}
