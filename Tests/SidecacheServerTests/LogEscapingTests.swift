import Foundation
import Logging
import SidecacheServer
import SidecacheTestSupport
import Synchronization
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
        let process = try ManagedProcess(LifecycleTests.binary, arguments: ["run", "--config", file])
        defer { process.kill() }
        #expect(await process.waitForOutput(containing: "admin listening"))
        let adminPort = try #require(Self.adminPort(in: process.output), "\(process.output)")

        let purge = try await adminCall(port: adminPort, "POST", "/purge", json: #"{"path": "/api/users/1\r\nFAKE forged line\u0000"}"#)
        #expect(purge.status == 200)
        _ = try await adminCall(port: adminPort, "POST", "/refresh", json: #"{"path": "/api/users/2", "host": "api.example\u0001\u001b[2J\t\u007f"}"#)
        #expect(await process.waitForOutput(containing: "admin refresh"))
        process.signal(SIGTERM)
        #expect(await process.waitForExit(timeout: .seconds(20)) == 0)

        let lines = process.output.split(separator: "\n")
        for line in lines {
            #expect(!line.unicodeScalars.contains(where: Self.isControl), "a raw control character in: \(line.debugDescription)")
        }
        #expect(!lines.contains { $0.hasPrefix("FAKE") }, "\(process.output.debugDescription)")
        #expect(lines.contains { $0.contains("admin purge") && $0.contains("FAKE forged line") }, "\(process.output.debugDescription)")
        #expect(lines.contains { $0.contains("admin refresh") && $0.contains("api.example") }, "\(process.output.debugDescription)")
    }

    /// The escaping itself, and that it reaches the message, every metadata value
    /// (nested ones too) and the handler's own metadata.
    @Test func handlerEscapesMessageAndMetadata() {
        #expect(LogText.escaped("/a\r\nb\u{0}c\td\u{1b}e\u{7f}f\\g\u{85}h\u{2028}i") == #"/a\r\nb\u0000c\td\u001be\u007ff\\g\u0085h\u2028i"#)
        #expect(LogText.escaped("/api/users/42 é ✓") == "/api/users/42 é ✓")

        let lines = Mutex<[String]>([])
        var handler = EscapingLogHandler(JSONLogHandler(label: "test") { line in lines.withLock { $0.append(line) } })
        handler.metadata = ["instance": "a\nb"]
        let logger = Logger(label: "test") { _ in handler }
        logger.notice("purge \r\nFAKE", metadata: ["path": "/x\r\n", "list": ["\u{0}"], "nested": ["k": "\n"]])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = written.first ?? ""
        // JSON escapes the escaping's backslash once more: `\r` in the message reads `\\r` in the line.
        for fragment in [#"purge \\r\\nFAKE"#, #""path":"/x\\r\\n""#, #""list":["\\u0000"]"#, #""k":"\\n""#, #""instance":"a\\nb""#] {
            #expect(line.contains(fragment), "\(fragment) in \(line)")
        }
    }
}
