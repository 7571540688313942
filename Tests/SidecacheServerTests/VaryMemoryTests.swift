import Foundation
import SidecacheConfig
@testable import SidecacheServer
import SidecacheTestSupport
import Testing

@Suite struct VaryMemoryTests {
    @Test func aRouteLearnsUpToItsBoundAndNoMore() {
        let memory = VaryMemory()
        #expect(memory.learn(["x-a", "x-b"], route: "r") == .learned)
        #expect(memory.learn(["x-b", "x-c"], route: "r") == .learned)
        #expect(memory.headers(for: "r") == ["x-a", "x-b", "x-c"])
        #expect(memory.learn((0..<6).map { "x-\($0)" }, route: "r") == .refused, "3 + 6 names is past the bound of 8")
        #expect(memory.headers(for: "r") == ["x-a", "x-b", "x-c"], "a refused list teaches nothing")
        #expect(memory.headers(for: "other").isEmpty)
        // Said once per route: every miss of such a URL is refused again, and warned each time.
        #expect(memory.learn((0..<6).map { "x-\($0)" }, route: "r") == .refusedAgain)
        #expect(memory.learn(["x-d"], route: "r") == .learned, "a list within the bound is still learned")
        #expect(memory.learn((0..<9).map { "x-\($0)" }, route: "other") == .refused)
    }

    /// The Vary audit's: instances that learned the same names in another order keyed
    /// one variant two ways, and never shared its entry in Redis.
    @Test func theOrderOfLearningDoesNotChangeTheKeyOrder() {
        let one = VaryMemory(), other = VaryMemory()
        one.learn(["x-tier"], route: "r")
        one.learn(["x-lang"], route: "r")
        other.learn(["x-lang", "x-tier"], route: "r")
        #expect(one.headers(for: "r") == ["x-lang", "x-tier"] && other.headers(for: "r") == one.headers(for: "r"))
    }

    /// An upstream answer whose `Vary` lists 20 000 names: refused at once. The merge was
    /// quadratic, under the lock every cache request takes: 9 000 names held every event
    /// loop for two seconds (debug), on every miss of that URL. The bound is far above
    /// what the refusal takes (microseconds) and far below the old merge (seconds).
    @Test func aHugeVaryListIsRefusedWithoutHoldingTheLock() {
        let memory = VaryMemory()
        let names = (0..<20_000).map { "x-header-\($0)" }
        let started = ContinuousClock.now
        #expect(memory.learn(names, route: "r") == .refused)
        #expect(ContinuousClock.now - started < .milliseconds(500))
        #expect(memory.headers(for: "r").isEmpty)
    }

    /// The Vary audit's leftover: past the bound, every miss of such a URL logged the
    /// warning again, as fast as clients asked. Said once; the answers still pass unstored.
    @Test func aRoutePastTheBoundIsWarnedOnce() async throws {
        let origin = try await ScriptedOrigin.start()
        let vary = (0...VaryMemory.maxPerRoute).map { "X-V\($0)" }.joined(separator: ", ")
        origin.on("GET", "/api/users/1", .json("{}", headers: [("Vary", vary)]))
        let logs = LogCapture()
        let json = #"{ "listen": "127.0.0.1:0", "upstream": "\#(origin.baseURL)", "routes": [{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }] }"#
        let server = try ProxyServer(config: try ConfigLoader.parse(Data(json.utf8), environment: [:]), logger: logs.logger)
        try await stopping(server, origin) {
            try await server.start()
            for _ in 0..<3 {
                let answer = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/1")
                #expect(answer.header("X-Cache") == "MISS" && answer.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=vary")
            }
            #expect(origin.count(path: "/api/users/1") == 3)
            #expect(logs.all.filter { $0.contains("varies on too many headers") }.count == 1)
        }
    }
}
