#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import SidecacheCore

/// `log.format: "json"`: one JSON object per line,
/// `{"timestamp":"2026-11-21T10:00:00.123Z","level":"info","label":"sidecache","message":"…","metadata":{…}}`
/// (`metadata` only when there is some), for log pipelines that parse lines.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let write: @Sendable (String) -> Void

    /// `write` receives each line with its newline; the default writes to stderr.
    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var members: [(String, JSONText)] = [
            ("timestamp", .string(Self.timestamp())),
            ("level", .string(event.level.rawValue)),
            ("label", .string(label)),
            ("message", .string(event.message.description)),
        ]
        if !merged.isEmpty { members.append(("metadata", Self.json(.dictionary(merged)))) }
        write(JSONText.object(members).rendered + "\n")
    }

    static func json(_ value: Logger.MetadataValue) -> JSONText {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(json))
        case .dictionary(let d): .object(d.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) })
        }
    }

    /// UTC, milliseconds, RFC 3339.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return secondOfTimestamp(ts.tv_sec) + pad(Int32(ts.tv_nsec / 1_000_000), 3) + "Z"
    }

    /// A timestamp up to its second, `2026-11-21T10:00:00.`: the part the access log
    /// formats once a second.
    public static func secondOfTimestamp(_ seconds: Int) -> String {
        var t = tm()
        var seconds = seconds
        gmtime_r(&seconds, &t)
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T"
            + "\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2))."
    }

    private static func pad(_ n: Int32, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// One `write(2)` per line under a lock, so lines from different threads never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        var line = line
        line.withUTF8 { StandardError.write(UnsafeRawBufferPointer($0)) }
    }
}
