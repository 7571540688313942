import Foundation
import SidecacheTestSupport
import Testing

/// Admin callers choose paths and hosts that end up in log lines. Through the handlers
/// the executable bootstraps, none of their control characters reaches a line raw, so
/// no caller can end a line early or forge the next one.
@Suite("Logs: client-controlled text is escaped")
struct LogEscapingTests {
    static func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.value < 0x20 || scalar.value == 0x7F }

    static func adminPort(in output: String) -> Int? { LifecycleTests.boundPort(in: output, line: "admin listening") }

    @Test(arguments: ["text", "json"])
    func adminInputCannotForgeLogLines(format: String) async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        origin.on("GET", "/api/*", .json("{}"))
        let extra = #""admin": { "listen": "127.0.0.1:0", "token": "\#(adminToken)" }, "log": { "format": "\#(format)", "access": true }"#
        let file = try writeTempConfig(ReloadTests.config(origin: origin, routes: ReloadTests.users, extra: extra))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let process = try ManagedProcess(LifecycleTests.binary, arguments: ["run", "--config", file])
        defer { process.kill() }
        #expect(await process.waitForOutput(containing: "admin listening"))
        let adminPort = try #require(Self.adminPort(in: process.output), "\(process.output)")

        let purge = try await adminCall(port: adminPort, "POST", "/purge", json: #"{"path": "/api/users/1\r\nFAKE forged line\u0000"}"#)
        #expect(purge.status == 200)
        // A Host with control characters is no host: refused before anything logs it.
        let refresh = try await adminCall(port: adminPort, "POST", "/refresh", json: #"{"path": "/api/users/2", "host": "api.example\u0001\u001b[2J\t\u007f"}"#)
        #expect(refresh.status == 400)
        process.signal(SIGTERM)
        #expect(await process.waitForExit(timeout: .seconds(20)) == 0)

        let lines = process.output.split(separator: "\n")
        for line in lines {
            #expect(!line.unicodeScalars.contains(where: Self.isControl), "a raw control character in: \(line.debugDescription)")
        }
        #expect(!lines.contains { $0.hasPrefix("FAKE") }, "\(process.output.debugDescription)")
        #expect(lines.contains { $0.contains("admin purge") && $0.contains("FAKE forged line") }, "\(process.output.debugDescription)")
    }
}
