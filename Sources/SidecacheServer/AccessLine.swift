import Glibc
import NIOCore
import SidecacheConfig
import SidecacheCore
import SidecacheLogging
import SidecacheStore

/// Writes access-log lines as the executable's log handlers write every other line
/// (`text`: swift-log's stream handler; `json`: `JSONLogHandler`; both behind
/// `EscapingLogHandler`), byte for byte, into one buffer per thread, with the timestamp
/// formatted once a second. Through the handlers, each line cost a metadata dictionary,
/// escaped copies of it, a sorted rendering and a `strftime`: a hit with `log.access` on
/// took twice the CPU of one without (BENCHMARKS.md, issue 13).
///
/// Written whatever `log.level` says, as nginx's `access_log` is apart from its
/// `error_log`: the line is asked for by `log.access` alone.
final class AccessLineWriter: Sendable {
    private let format: LogConfig.Format
    private let sink: @Sendable (UnsafeRawBufferPointer) -> Void
    private static let scratch = ThreadSlot<Scratch>()

    /// `sink` takes each line, newline included (tests read them; the proxy writes them
    /// to standard error, where its other log lines go: `StandardError.write`).
    init(format: LogConfig.Format, sink: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.format = format
        self.sink = sink
    }

    /// One line. The fields are the metadata a handler would sort by name: cache,
    /// durationMs, method, route, status, target.
    func write(method: String, target: String, route: String, status: Int, cache: String, micros: Int64) {
        let line = Self.scratch.value { Scratch() }
        line.bytes.removeAll(keepingCapacity: true)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        switch format {
        case .text:
            // `2026-12-06T05:27:08+0000 info sidecache: cache=hit durationMs=0.142 method=GET
            // route=items status=200 target=/api/items/1 [SidecacheServer] access`
            line.append(line.localSecond(now.tv_sec))
            line.append(" info sidecache: cache=")
            line.textValue(cache)
            line.append(" durationMs=")
            line.milliseconds(micros)
            line.append(" method=")
            line.textValue(method)
            line.append(" route=")
            line.textValue(route)
            line.append(" status=")
            line.decimal(status)
            line.append(" target=")
            line.textValue(target)
            line.append(" [SidecacheServer] access\n")
        case .json:
            line.append(#"{"timestamp":""#)
            line.append(line.utcSecond(now.tv_sec))
            line.threeDigits(now.tv_nsec / 1_000_000)
            line.append(#"Z","level":"info","label":"sidecache","message":"access","metadata":{"cache":"#)
            line.jsonValue(cache)
            line.append(#","durationMs":""#)
            line.milliseconds(micros)
            line.append(#"","method":"#)
            line.jsonValue(method)
            line.append(#","route":"#)
            line.jsonValue(route)
            line.append(#","status":""#)
            line.decimal(status)
            line.append(#"","target":"#)
            line.jsonValue(target)
            line.append("}}\n")
        }
        line.bytes.withUnsafeBytes(sink)
    }

    /// A thread's line under construction, and the second its timestamps were made for.
    private final class Scratch {
        var bytes: [UInt8] = []
        private var localAt = Int.min
        private var local: [UInt8] = []
        private var utcAt = Int.min
        private var utc: [UInt8] = []

        init() {
            bytes.reserveCapacity(512)
        }

        func append(_ text: StaticString) {
            bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }

        func append(_ part: [UInt8]) {
            bytes.append(contentsOf: part)
        }

        /// swift-log's stream handler's timestamp: local time, `%Y-%m-%dT%H:%M:%S%z`.
        func localSecond(_ second: Int) -> [UInt8] {
            if second != localAt {
                var t = tm()
                var seconds = second
                localtime_r(&seconds, &t)
                var text = [CChar](repeating: 0, count: 64)
                let count = strftime(&text, text.count, "%Y-%m-%dT%H:%M:%S%z", &t)
                local = text[..<count].map { UInt8(bitPattern: $0) }
                localAt = second
            }
            return local
        }

        /// `JSONLogHandler`'s timestamp up to its second.
        func utcSecond(_ second: Int) -> [UInt8] {
            if second != utcAt {
                utc = Array(JSONLogHandler.secondOfTimestamp(second).utf8)
                utcAt = second
            }
            return utc
        }

        func threeDigits(_ n: Int) {
            bytes.append(UInt8(ascii: "0") + UInt8(n / 100 % 10))
            bytes.append(UInt8(ascii: "0") + UInt8(n / 10 % 10))
            bytes.append(UInt8(ascii: "0") + UInt8(n % 10))
        }

        func decimal(_ n: Int) {
            withUnsafeTemporaryAllocation(byteCount: ByteBuffer.maxDecimalDigits, alignment: 1) { room in
                bytes.append(contentsOf: room[..<ByteBuffer.putDecimal(Int64(n), into: room, at: 0)])
            }
        }

        /// `Double(micros) / 1000` as Swift prints it (`0.142`, `1.0`, `0.05`): the decimal
        /// itself, which is the shortest form of a double of up to 15 digits.
        func milliseconds(_ micros: Int64) {
            guard micros >= 0 && micros < 1_000_000_000_000_000 else {
                return bytes.append(contentsOf: "\(Double(micros) / 1000)".utf8)
            }
            decimal(Int(micros / 1000))
            bytes.append(UInt8(ascii: "."))
            let fraction = Int(micros % 1000)   // its digits, trailing zeros dropped but the first
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / 100))
            if fraction % 100 != 0 { bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10)) }
            if fraction % 10 != 0 { bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10)) }
        }

        /// A text metadata value: `LogText.quotedIfNeeded`, which leaves printable ASCII
        /// without a blank, `=`, `"` or `\` as it is.
        func textValue(_ value: String) {
            if !value.isEmpty && value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x3D && $0 != 0x5C }) {
                bytes.append(contentsOf: value.utf8)
            } else {
                bytes.append(contentsOf: LogText.quotedIfNeeded(value).utf8)
            }
        }

        /// A JSON metadata value, quoted: `LogText.escaped`, then JSON's quoting, which
        /// leave printable ASCII without `"` or `\` as it is.
        func jsonValue(_ value: String) {
            if value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: value.utf8)
                bytes.append(UInt8(ascii: "\""))
            } else {
                bytes.append(contentsOf: JSONText.string(LogText.escaped(value)).rendered.utf8)
            }
        }
    }
}
