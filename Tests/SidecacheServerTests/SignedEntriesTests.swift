import SidecacheCore
@testable import SidecacheServer
import SidecacheTestSupport
import Testing

/// `store.signingKey` (DESIGN "Signed entries"): two instances and a real redis-server,
/// L1 off so every read goes to Redis. Whatever lands in Redis without the key's
/// signature is a counted miss, never an answer.
@Suite("Signed entries", .serialized)
struct SignedEntriesTests {
    static let key = "k3y-for-the-signed-entries-test-0123456789"
    static let otherKey = "another-key-for-the-signed-entries-test-987"

    @Test func instancesSharingTheKeyShareEntries() async throws {
        try await withRedisPair(memory: "0", signingKeys: [Self.key, Self.key]) { p in
            p.origin.on("GET", "/api/users/1", .json(#"{"id":1}"#))
            #expect(try await p.get(p.portA, "/api/users/1").header("X-Cache") == "MISS")
            let onB = try await p.get(p.portB, "/api/users/1")
            #expect(onB.header("X-Cache") == "HIT")
            #expect(onB.text == #"{"id":1}"#)
            #expect(p.origin.count(path: "/api/users/1") == 1)
            #expect(try await signatureFailures(p.b) == 0)
        }
    }

    /// An entry written without the key (an older instance, or anything else that can
    /// write to Redis) is refused and counted; the fill replaces it with a signed one.
    @Test func anUnsignedEntryIsACountedMissAndIsReplaced() async throws {
        try await withRedisPair(memory: "0", signingKeys: [nil, Self.key]) { p in
            p.origin.on("GET", "/api/users/2", .json(#"{"id":2}"#))
            _ = try await p.get(p.portA, "/api/users/2")   // stored unsigned by A
            let name = try #require(try await entryNames(p).first)
            let unsignedLength = try #require(Int(try await p.redis.cli("STRLEN", name)))

            let refused = try await p.get(p.portB, "/api/users/2")
            #expect(refused.status == 200 && refused.text == #"{"id":2}"#)
            #expect(refused.header("X-Cache") == "MISS")
            #expect(p.origin.count(path: "/api/users/2") == 2)
            #expect(try await signatureFailures(p.b) == 1)
            #expect(p.logs.all.contains { $0.contains("without this store.signingKey's signature") })

            // B's fill stored the entry signed: 32 bytes longer, and a hit for B now.
            #expect(try await eventually { Int(try await p.redis.cli("STRLEN", name)) == unsignedLength + EntrySigner.signatureLength })
            #expect(try await p.get(p.portB, "/api/users/2").header("X-Cache") == "HIT")
            #expect(p.origin.count(path: "/api/users/2") == 2)
        }
    }

    @Test func anEntrySignedWithAnotherKeyIsRefused() async throws {
        try await withRedisPair(memory: "0", signingKeys: [Self.otherKey, Self.key]) { p in
            p.origin.on("GET", "/api/users/3", .json(#"{"id":3}"#))
            _ = try await p.get(p.portA, "/api/users/3")
            #expect(try await p.get(p.portB, "/api/users/3").header("X-Cache") == "MISS")
            #expect(p.origin.count(path: "/api/users/3") == 2)
            #expect(try await signatureFailures(p.b) == 1)
        }
    }

    /// The signature covers the key an entry is stored under: a genuine signed entry
    /// copied over another key's is refused, not served as that key's answer.
    @Test func aSignedEntryMovedToAnotherKeyIsRefused() async throws {
        try await withRedisPair(memory: "0", signingKeys: [Self.key, Self.key]) { p in
            p.origin.on("GET", "/api/users/*") { request in .json(#"{"path":"\#(request.path)"}"#) }
            _ = try await p.get(p.portA, "/api/users/4")
            let four = try #require(try await entryNames(p).first)
            _ = try await p.get(p.portA, "/api/users/5")
            let five = try #require(try await entryNames(p).first { $0 != four })
            #expect(try await p.redis.cli("COPY", four, five, "REPLACE") == "1")

            let r = try await p.get(p.portB, "/api/users/5")
            #expect(r.text == #"{"path":"/api/users/5"}"#)
            #expect(r.header("X-Cache") == "MISS")
            #expect(try await signatureFailures(p.b) == 1)
        }
    }

    private func entryNames(_ p: RedisPair) async throws -> [String] {
        try await p.redis.cli("KEYS", "sidecache:e:*").split(separator: "\n").map(String.init)
    }

    private func signatureFailures(_ proxy: ProxyServer) async throws -> Int? {
        try await adminCall(port: proxy.adminPort!, "GET", "/stats").json["signatureFailures"]?.int
    }
}
