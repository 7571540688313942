import Logging
import SidecacheConfig
import SidecacheLogging
@testable import SidecacheServer
import Synchronization
import Testing

/// The access log writes its lines itself, as the executable's log handlers would write
/// them: the same bytes, but for the time they were written.
@Suite("Access log lines: the handlers' format, byte for byte")
struct AccessLineTests {
    struct Record {
        var method = "GET", target = "/api/items/1", route = "items", status = 200, cache = "hit"
        var micros: Int64 = 142
    }

    /// Records whose values take each of the handlers' paths: plain, empty, blanks, `=`,
    /// quotes, backslashes, controls, obs-text and the invisible characters `LogText` escapes.
    static let records: [Record] = [
        Record(),
        Record(method: "-", target: "-", route: "", status: 400, cache: "bypass", micros: 0),
        Record(target: "/api/users/7?q=a b&x=\"1\"", route: "user", status: 499, cache: "miss", micros: 1_500),
        Record(method: "PUT", target: "/x\\y\r\nFAKE line\t\u{1B}[2J\u{7F}", status: 204, cache: "bypass", micros: 12_050),
        Record(target: "/caf\u{E9}/\u{202E}lmth.exe\u{200B}/\u{85}", route: "r=1", status: 301, micros: 123_456_789),
    ]

    /// Lines a sink took, as text.
    final class Lines: Sendable {
        private let taken = Mutex<[String]>([])
        var all: [String] { taken.withLock { $0 } }
        var last: String? { taken.withLock { $0.last } }
        var sink: @Sendable (UnsafeRawBufferPointer) -> Void {
            { [self] bytes in taken.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        }
    }

    static func written(_ format: LogConfig.Format, _ r: Record) -> String {
        let lines = Lines()
        AccessLineWriter(format: format, sink: lines.sink)
            .write(method: r.method, target: r.target, route: r.route, status: r.status, cache: r.cache, micros: r.micros)
        return lines.all.joined()
    }

    /// The metadata the access log handed its logger, as it did before it wrote lines itself.
    static func metadata(_ r: Record) -> Logger.Metadata {
        ["method": "\(r.method)", "target": "\(r.target)", "route": "\(r.route)", "status": "\(r.status)",
         "cache": "\(r.cache)", "durationMs": "\(Double(r.micros) / 1000)"]
    }

    /// The line without its timestamp's value.
    static func untimed(_ line: String, after prefix: String, upTo end: Character) -> Substring {
        guard let start = line.range(of: prefix)?.upperBound, let stop = line[start...].firstIndex(of: end) else { return line[...] }
        return line[..<start] + line[stop...]
    }

    @Test(arguments: records.indices)
    func aJSONLineIsTheJSONHandlersLine(index: Int) {
        let r = Self.records[index]
        let handled = Lines()
        var logger = Logger(label: "sidecache") { label in
            EscapingLogHandler(JSONLogHandler(label: label) { line in
                var line = line
                line.withUTF8 { handled.sink(UnsafeRawBufferPointer($0)) }
            })
        }
        logger.logLevel = .info
        logger.info("access", metadata: Self.metadata(r))
        let written = Self.written(.json, r)
        let expected = Self.untimed(handled.all.joined(), after: #"{"timestamp":""#, upTo: "\"")
        #expect(Self.untimed(written, after: #"{"timestamp":""#, upTo: "\"") == expected)
        #expect(written.firstMatch(of: /^\{"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"info",/) != nil, "\(written)")
    }

    /// swift-log's stream handler writes `<time> <level> <label>:` and the metadata sorted
    /// by key as `key=value`, then `[<module>] <message>`; behind `EscapingLogHandler` each
    /// value is `LogText.quotedIfNeeded`.
    @Test(arguments: records.indices)
    func aTextLineIsTheStreamHandlersLine(index: Int) {
        let r = Self.records[index]
        let pairs = Self.metadata(r).sorted { $0.key < $1.key }.map { "\($0.key)=\(LogText.quotedIfNeeded("\($0.value)"))" }
        let expected = "info sidecache: \(pairs.joined(separator: " ")) [SidecacheServer] access\n"
        let written = Self.written(.text, r)
        #expect(written.firstMatch(of: #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} /#) != nil, "\(written)")
        #expect(written.drop(while: { $0 != " " }).dropFirst() == expected[...])
    }

    /// As an operator reads them.
    @Test func linesAsTheyRead() {
        let text = Self.written(.text, Self.records[2])
        #expect(text.hasSuffix(#" info sidecache: cache=miss durationMs=1.5 method=GET route=user status=499 target="/api/users/7?q=a b&x=\"1\"" [SidecacheServer] access"# + "\n"),
                "\(text)")
        let json = Self.written(.json, Self.records[3])
        #expect(json.hasSuffix(#"Z","level":"info","label":"sidecache","message":"access","metadata":{"cache":"bypass","durationMs":"12.05","method":"PUT","route":"items","status":"204","target":"/x\\\\y\\r\\nFAKE line\\t\\u001b[2J\\u007f"}}"# + "\n"),
                "\(json)")
        #expect(!json.dropLast().contains { $0.isNewline }, "one line")
    }

    /// Durations are written as Swift prints `Double(micros) / 1000`.
    @Test func durationsAreWrittenAsSwiftPrintsThem() {
        let lines = Lines()
        let writer = AccessLineWriter(format: .json, sink: lines.sink)
        var samples = Array(Int64(0)...20_000)
        samples += [99_999, 100_000, 123_456_789, 86_400_000_000, 999_999_999_999_999, 1_000_000_000_000_000, -1, -1_500]
        var mismatches: [String] = []
        for micros in samples {
            writer.write(method: "GET", target: "/", route: "", status: 200, cache: "hit", micros: micros)
            let line = lines.last ?? ""
            let written = line.firstMatch(of: /"durationMs":"([^"]*)"/).map { String($0.1) }
            if written != "\(Double(micros) / 1000)" { mismatches.append("\(micros): \(written ?? line)") }
        }
        let firstMismatches = Array(mismatches.prefix(5))   // not thousands of them, should they all differ
        #expect(firstMismatches.isEmpty, "\(mismatches.count) differ")
    }
}
