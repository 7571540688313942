import Foundation
import Testing
import SidecacheTestSupport

@Suite("The sidecache executable")
struct LifecycleTests {
    /// The executable next to the test bundle (built by `swift build --build-tests`).
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sidecache").path
    }

    /// The port a child bound for the listener its log line `line` announces (its config
    /// asks for port 0, so no other test can take the port between choosing and binding it).
    /// Reads the `listen` metadata (`listen=…` in text logs, `"listen":"…"` in JSON), whatever
    /// order the handler prints metadata in: the line also names the upstream's address.
    static func boundPort(in output: String, line marker: String = "sidecache listening") -> Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains(marker) }) else { return nil }
        for key in ["listen=127.0.0.1:", #""listen":"127.0.0.1:"#] {
            if let address = line.range(of: key) { return Int(line[address.upperBound...].prefix(while: \.isNumber)) }
        }
        return nil
    }

    /// SIGTERM and SIGINT alike (README): what is in flight is answered, then exit 0.
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalDrainsInFlightRequestsThenExitsZero(_ signal: Int32) async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        origin.on("GET", "/slow", OriginResponse.text("finished").delayed(.milliseconds(800)))
        let config = try writeTempConfig(#"{ "listen": "127.0.0.1:0", "upstream": "\#(origin.baseURL)" }"#)
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build the executable first")
        let process = try ManagedProcess(Self.binary, arguments: ["run", "--config", config])
        #expect(await process.waitForOutput(containing: "listening", timeout: .seconds(60)))
        let port = try #require(Self.boundPort(in: process.output), "\(process.output)")

        async let inFlight = TestHTTPClient.request(port: port, "GET", "/slow")
        #expect(try await eventually { origin.count(path: "/slow") == 1 })
        process.signal(signal)
        let answer = try await inFlight
        #expect(answer.status == 200 && answer.text == "finished")
        #expect(await process.waitForExit(timeout: .seconds(20)) == 0)
        await #expect(throws: (any Error).self) { _ = try await TestHTTPClient.request(port: port, "GET", "/slow") }
    }

    /// The soft open-file limit is raised to the hard one at start: under a soft limit of
    /// 256 (a shell's or systemd's is 1024), 300 idle connections ran the process out of
    /// descriptors, and the listener retried the failed accepts at 100 % CPU while new
    /// clients timed out (found by the isolation audit). It warns when even the hard limit
    /// is below what `limits.connections` needs. The CPU bound is a fifth of one core.
    @Test func theSoftOpenFileLimitIsRaisedToTheHardOne() async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        origin.on("GET", "/x", .text("ok"))
        let config = try writeTempConfig(#"{ "listen": "127.0.0.1:0", "upstream": "\#(origin.baseURL)", "threads": 1 }"#)
        let process = try ManagedProcess("/bin/sh", arguments: ["-c", #"ulimit -Sn 64 && ulimit -Hn 4096 && exec "$0" run --config "$1""#,
                                                               Self.binary, config])
        defer { process.kill() }
        #expect(await process.waitForOutput(containing: "sidecache listening", timeout: .seconds(60)))
        #expect(process.output.contains("open-file limit is below what limits.connections needs"))
        let port = try #require(Self.boundPort(in: process.output), "\(process.output)")
        var held: [RawConnection] = []
        for _ in 0..<80 { held.append(try await RawConnection.connect(port: port)) }
        let limits = try String(contentsOfFile: "/proc/\(process.pid)/limits", encoding: .utf8)
        let openFiles = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }?.split(separator: " ")
        #expect(openFiles?[3] == "4096", "the soft limit, raised: \(limits)")
        try await Task.sleep(for: .milliseconds(500))   // all of them accepted, or the listener at the limit
        let before = try Self.cpuTicks(process.pid)
        try await Task.sleep(for: .seconds(2))
        let spent = try Self.cpuTicks(process.pid) - before
        #expect(spent < 40, "\(spent) ticks of CPU in 2 s holding 80 idle connections")
        #expect(try await TestHTTPClient.request(port: port, "GET", "/x").status == 200, "answered beside them")
        for connection in held { try? await connection.reset() }
    }

    /// User and system CPU time of `pid`, in clock ticks (`/proc/PID/stat`, fields 14 and 15).
    static func cpuTicks(_ pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.lastIndex(of: ")")!...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!
    }

    /// The drain is capped (README: up to 10 s): a request the upstream never answers
    /// (its timeout set far past the cap) does not keep the process from exiting 0.
    @Test func sigtermExitsAfterTheDrainCapWhatStillRuns() async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        origin.on("GET", "/never", OriginResponse.text("too late").delayed(.seconds(300)))
        let config = try writeTempConfig(#"""
        { "listen": "127.0.0.1:0", "upstream": "\#(origin.baseURL)", "defaults": { "upstreamTimeout": "300s" } }
        """#)
        let process = try ManagedProcess(Self.binary, arguments: ["run", "--config", config])
        #expect(await process.waitForOutput(containing: "listening", timeout: .seconds(60)))
        let port = try #require(Self.boundPort(in: process.output), "\(process.output)")
        let stuck = Task { try? await TestHTTPClient.request(port: port, "GET", "/never", timeout: .seconds(120)) }
        #expect(try await eventually { origin.count(path: "/never") == 1 })
        process.signal(SIGTERM)
        // 10 s of drain expected; 60 s is a generous bound, far below the 300 s it would take otherwise.
        #expect(await process.waitForExit(timeout: .seconds(60)) == 0, "\(process.output.suffix(500))")
        stuck.cancel()
    }

    /// Secrets come from the environment; none reaches a log line, at any level. At
    /// debug the service group printed the SIGHUP service with the whole environment.
    @Test func noLogLevelPrintsTheEnvironment() async throws {
        let config = try writeTempConfig(#"{ "listen": "127.0.0.1:0", "upstream": "http://127.0.0.1:1", "log": { "level": "debug" } }"#)
        let secret = "env-secret-\(UInt64.random(in: 1...UInt64.max))"
        let environment = ProcessInfo.processInfo.environment.merging(["SIDECACHE_TEST_SECRET": secret]) { $1 }
        let process = try ManagedProcess(Self.binary, arguments: ["run", "--config", config], environment: environment)
        #expect(await process.waitForOutput(containing: "listening", timeout: .seconds(60)))
        process.signal(SIGTERM)
        #expect(await process.waitForExit(timeout: .seconds(20)) == 0)
        #expect(process.output.contains("debug"), "the log level is debug")
        #expect(!process.output.contains(secret))
    }

    @Test func badConfigExitsNonZeroNamingTheField() async throws {
        let config = try writeTempConfig(#"{ "upstream": "http://127.0.0.1:1", "routes": [ { "name": "a", "match": "GET /a", "ttl": "5 minutes" } ] }"#)
        for command in ["run", "check"] {
            let process = try ManagedProcess(Self.binary, arguments: [command, "--config", config])
            #expect(await process.waitForExit() == 1)
            #expect(process.output.contains(#"routes[0].ttl: "5 minutes" is not a duration (use 300s, 5m, 1h)"#))
        }
    }

    /// DESIGN: `SIDECACHE_LISTEN`, `SIDECACHE_UPSTREAM` and `REDIS_URL` override the file, and `${NAME}` is
    /// read from the environment, in the executable itself (`loadConfig`, which `run`
    /// shares). The loader was tested with a dictionary only, so the executable could
    /// have passed none and every test would still pass (the test-quality audit).
    @Test func theExecutableReadsTheEnvironment() async throws {
        let config = try writeTempConfig(#"{ "listen": "127.0.0.1:${SIDECACHE_TEST_PORT}", "upstream": "http://127.0.0.1:1" }"#)
        let environment = ProcessInfo.processInfo.environment.merging([
            "SIDECACHE_TEST_PORT": "18080", "SIDECACHE_UPSTREAM": "http://127.0.0.1:9/base", "REDIS_URL": "redis://127.0.0.1:7",
        ]) { $1 }.filter { $0.key != "SIDECACHE_LISTEN" }
        let process = try ManagedProcess(Self.binary, arguments: ["check", "--config", config], environment: environment)
        #expect(await process.waitForExit() == 0, "\(process.output)")
        #expect(process.output.contains("listen   127.0.0.1:18080\n"))
        #expect(process.output.contains("upstream http://127.0.0.1:9/base\n"))
        #expect(process.output.contains("redis (strict)"), "REDIS_URL gave the store its Redis: \(process.output)")

        let listen = try ManagedProcess(Self.binary, arguments: ["check", "--config", config],
                                        environment: environment.merging(["SIDECACHE_LISTEN": "127.0.0.1:18081"]) { $1 })
        #expect(await listen.waitForExit() == 0)
        #expect(listen.output.contains("listen   127.0.0.1:18081\n"), "SIDECACHE_LISTEN overrides listen")
    }

    @Test func checkPrintsTheCompiledTables() async throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../proxy.json").path
        let process = try ManagedProcess(Self.binary, arguments: ["check", "--config", example])
        #expect(await process.waitForExit() == 0)
        #expect(process.output.contains("GET /api/users/{id}"))
        #expect(process.output.contains("PUT|PATCH|DELETE /api/users/{id}  ->  /api/users/{id}, /api/users"))
    }

    /// Every shared route is called out: anonymous clients get what authenticated ones fetched.
    @Test func checkWarnsOfEverySharedRouteAndNamesTheClaims() async throws {
        let secret = String(repeating: "k", count: 40)
        let file = try writeTempConfig("""
        { "upstream": "http://127.0.0.1:1", "auth": { "jwt": { "secret": "\(secret)", "issuer": "https://auth.example" } },
          "routes": [ { "name": "pub", "match": "GET /pub", "shared": true },
                      { "name": "docs", "match": "GET /docs", "shared": true },
                      { "name": "byrole", "match": "GET /r", "key": { "claims": ["tenant", "role"] } },
                      { "name": "plain", "match": "GET /p" } ] }
        """)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let process = try ManagedProcess(Self.binary, arguments: ["check", "--config", file])
        #expect(await process.waitForExit() == 0)
        let warnings = process.output.split(separator: "\n").filter { $0.hasPrefix("warning: route") }
        #expect(warnings.count == 2 && warnings[0].contains("pub is shared") && warnings[1].contains("docs is shared"))
        #expect(process.output.contains("claims[tenant,role] from Authorization"))
        #expect(!process.output.contains(secret), "the secret is never printed")
    }
}
