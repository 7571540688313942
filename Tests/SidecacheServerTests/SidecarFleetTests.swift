import Foundation
import SidecacheTestSupport
import Testing

/// DESIGN "Beyond purge rules" through real processes: twenty `sidecache` executables
/// sharing one redis-server (entries signed), as twenty sidecars would.
@Suite("A fleet of sidecar processes", .serialized)
struct SidecarFleetTests {
    struct Sidecar {
        let process: ManagedProcess
        let port: Int
        let adminPort: Int
    }

    static let token = "fleet-admin-token-0123"

    static func config(origin: String, redis: String) -> String {
        """
        { "listen": "127.0.0.1:0", "upstream": "\(origin)", "threads": 1,
          "store": { "memory": "8MiB", "redis": "\(redis)", "timeout": "1s",
                     "signingKey": "fleet-signing-key-0123456789abcdefghij" },
          "admin": { "listen": "127.0.0.1:0", "token": "\(token)" },
          "log": { "level": "info" },
          "routes": [ { "name": "lists", "match": "GET /api/lists/{name}", "ttl": "5m", "tags": ["user:$.items[*].id"] } ],
          "purge": [ { "on": "PUT /api/users/{id}", "tags": ["user:{id}"] } ] }
        """
    }

    static func start(_ count: Int, origin: ScriptedOrigin, redis: RedisServer) async throws -> [Sidecar] {
        let path = try writeTempConfig(config(origin: origin.baseURL, redis: redis.url))
        var fleet: [Sidecar] = []
        for _ in 0..<count {
            let process = try ManagedProcess(LifecycleTests.binary, arguments: ["run", "--config", path])
            fleet.append(Sidecar(process: process, port: 0, adminPort: 0))
        }
        var started: [Sidecar] = []
        for sidecar in fleet {
            let p = sidecar.process
            guard await p.waitForOutput(containing: "admin listening", timeout: .seconds(60)),
                  await p.waitForOutput(containing: "sidecache listening", timeout: .seconds(60)),
                  let port = LifecycleTests.boundPort(in: p.output),
                  let admin = LifecycleTests.boundPort(in: p.output, line: "admin listening") else {
                for s in fleet { s.process.kill() }
                throw TestSupportError(.launchFailed, "a sidecar did not start: \(p.output.suffix(800))")
            }
            started.append(Sidecar(process: p, port: port, adminPort: admin))
        }
        // Every sidecar connected to Redis and ready to use it.
        let all = started
        let ready = try await eventually(timeout: .seconds(30)) {
            for s in all {
                let ready = try await adminCall(port: s.adminPort, "GET", "/readyz", token: nil).json["redis"]?["l2"]?.string
                if ready != "usable" { return false }
            }
            return true
        }
        #expect(ready, "every sidecar ready on Redis before the test")
        return all
    }

    static func get(_ sidecar: Sidecar, _ path: String) async throws -> TestResponse {
        try await TestHTTPClient.request(port: sidecar.port, "GET", path, headers: [("Host", "api.example")])
    }

    /// Requests waiting on another's fill, over the fleet (each sidecar's /metrics).
    static func waiting(_ fleet: [Sidecar]) async throws -> Int {
        var total = 0
        for s in fleet {
            let text = try await adminCall(port: s.adminPort, "GET", "/metrics", token: nil).text
            for line in text.split(separator: "\n") where line.hasPrefix("sidecache_coalesced_total{") {
                total += Int(Double(line.split(separator: " ").last ?? "0") ?? 0)
            }
        }
        return total
    }

    /// A thundering herd on a cold key across 20 sidecars reaches the upstream once; the
    /// list is tagged from its body, and a PUT of one user through one sidecar purges it
    /// on all of them.
    @Test func twentySidecarsOneUpstreamFetchAndOnePurgeForAll() async throws {
        let origin = try await ScriptedOrigin.start()
        let redis = try await RedisServer.start()
        let fleet: [Sidecar]
        do {
            fleet = try await Self.start(20, origin: origin, redis: redis)
        } catch {
            await redis.stop()
            try? await origin.shutdown()
            throw error
        }
        defer { for s in fleet { s.process.kill() } }

        let gate = CoalescingTests.Gate()
        origin.on("GET", "/api/lists/a") { _ in await gate.wait(); return .json(#"{"items":[{"id":7},{"id":8}]}"#) }
        origin.on("PUT", "/api/users/8", .json("{}"))
        let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
            for s in fleet { group.addTask { try await Self.get(s, "/api/lists/a") } }
            #expect(try await eventually(timeout: .seconds(30)) {
                let waiting = try await Self.waiting(fleet)
                return origin.count(path: "/api/lists/a") == 1 && waiting == 19
            })
            gate.release()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 20 && answers.allSatisfy { $0.status == 200 })
        #expect(origin.count(path: "/api/lists/a") == 1, "one upstream fetch for twenty sidecars")
        #expect(try await Self.get(fleet[19], "/api/lists/a").header("X-Cache") == "HIT")
        #expect(try await Self.get(fleet[11], "/api/lists/a").header("X-Cache") == "HIT", "sidecar 11 holds the list in its L1")

        let put = try await TestHTTPClient.request(port: fleet[3].port, "PUT", "/api/users/8", headers: [("Host", "api.example")],
                                                   body: Array("{}".utf8))
        #expect(put.status == 200)
        // Sidecar 11 holds the list in its own L1 too: it must not serve it after the PUT.
        #expect(try await Self.get(fleet[11], "/api/lists/a").header("X-Cache") == "MISS", "the list holding user 8 is purged")
        #expect(origin.count(path: "/api/lists/a") == 2)
        #expect(try await Self.get(fleet[0], "/api/lists/a").header("X-Cache") == "HIT", "and refilled once, for all")

        for s in fleet { s.process.signal(SIGTERM) }
        for s in fleet { _ = await s.process.waitForExit(timeout: .seconds(20)) }
        await redis.stop()
        try await origin.shutdown()
    }
}
