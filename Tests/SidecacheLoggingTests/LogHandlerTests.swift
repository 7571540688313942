import Logging
import SidecacheCore
import SidecacheLogging
import Synchronization
import Testing

/// The handlers the executable bootstraps: the JSON line format, and the escaping that
/// keeps client-chosen text from forging log lines (the end-to-end check through the
/// binary is `LogEscapingTests` in the server tests).
@Suite("Log handlers")
struct LogHandlerTests {
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

    /// Invisible characters that reorder or hide what a terminal shows are escaped too.
    @Test func bidiAndZeroWidthCharactersAreEscaped() {
        #expect(LogText.escaped("/x\u{202E}lmth.exe\u{200B}\u{2066}\u{FEFF}") == #"/x\u202elmth.exe\u200b\u2066\ufeff"#)
    }

    /// The text format writes metadata as unquoted `key=value` pairs: a value a reader
    /// would split is quoted, so `/x caller=10.9.9.9:1` as a purge path is not read as a
    /// second `caller`.
    @Test(arguments: [
        ("/x caller=10.9.9.9:1", #""/x caller=10.9.9.9:1""#),
        ("a=b", #""a=b""#),
        (#"say "hi""#, #""say \"hi\"""#),
        ("", #""""#),
        (#"back\slash x"#, #""back\\slash x""#),
        ("/api/users/42", "/api/users/42"),
    ])
    func textValuesAReaderWouldSplitAreQuoted(value: String, logged: String) {
        #expect(LogText.quotedIfNeeded(value) == logged)
    }

    @Test func jsonLogLines() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "sidecache") { line in lines.withLock { $0.append(line) } }
        handler.metadata = ["instance": "a"]
        let logger = Logger(label: "sidecache") { _ in handler }
        logger.warning("upstream \"slow\"\n", metadata: ["route": "user", "n": .stringConvertible(3)])
        logger.debug("not at info")
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("\n") && line.dropLast().allSatisfy { $0 != "\n" })
        let json = try #require(JSONValue.parse(Array(line.utf8)))
        #expect(json.value(at: ["level"]) == .string("warning"))
        #expect(json.value(at: ["label"]) == .string("sidecache"))
        #expect(json.value(at: ["message"]) == .string("upstream \"slow\"\n"))
        #expect(json.value(at: ["metadata"]) == .object(["instance": .string("a"), "route": .string("user"), "n": .string("3")]))
        guard case .string(let ts)? = json.value(at: ["timestamp"]) else { Issue.record("no timestamp"); return }
        #expect(ts.count == 24 && ts.hasSuffix("Z") && ts.contains("T"), "\(ts)")
    }
}
