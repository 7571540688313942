import Logging
import SidecacheCore

/// Log lines carry text that clients and admin callers choose (paths, hosts, request
/// targets, error descriptions). A raw CR or LF in it would end the line and let the
/// caller forge the next one; a NUL or other control character can hide text from an
/// operator's terminal. So every such character is escaped before any handler sees it.
public enum LogText {
    /// `text` with C0 controls, DEL, C1 controls and the Unicode line/paragraph
    /// separators escaped as JSON escapes them (`\r`, `\n`, `\t`, otherwise `\uXXXX`), and
    /// `\` doubled so the escaping stays unambiguous. Text without any is returned as it is.
    public static func escaped(_ text: String) -> String {
        // Every non-ASCII scalar starts with a byte ≥ 0xC2, so plain ASCII is one quick scan.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") || $0 >= 0xC2 }) else {
            return text
        }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars { JSONText.append(scalar, into: &out, escaping: isControl) }
        return out
    }

    /// Also the invisible ones that reorder or hide what a terminal shows: zero-width
    /// characters and marks (U+200B–U+200F, U+FEFF) and bidirectional embeddings,
    /// overrides and isolates (U+202A–U+202E, U+2066–U+2069): `/x\u{202E}lmth.exe`.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || (0x200B...0x200F).contains(v) || (0x2028...0x202E).contains(v)
            || (0x2066...0x2069).contains(v) || v == 0xFEFF
    }

    /// `text` escaped, then quoted if a `key=value` reader would split it: empty, or a
    /// space, `=` or `"` in it (`"` escaped inside the quotes). The text format writes
    /// metadata as `key=value` pairs unquoted, so `/x caller=10.9.9.9:1` as a purge path
    /// read as a second `caller`.
    public static func quotedIfNeeded(_ text: String) -> String {
        let escaped = escaped(text)
        guard escaped.isEmpty || escaped.utf8.contains(where: { $0 == 0x20 || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\"") }) else {
            return escaped
        }
        // `escaped` has already doubled every `\`: one before `"` is unambiguous.
        var out = "\""
        for c in escaped.unicodeScalars {
            if c == "\"" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c)
        }
        return out + "\""
    }

    /// `value` with every string in it escaped (nested lists and dictionaries included).
    static func escaped(_ value: Logger.MetadataValue, quoting: Bool) -> Logger.MetadataValue {
        let text = quoting ? quotedIfNeeded : escaped
        return switch value {
        case .string(let s): .string(text(s))
        case .stringConvertible(let c): .string(text(c.description))
        case .array(let items): .array(items.map { escaped($0, quoting: quoting) })
        case .dictionary(let d): .dictionary(d.mapValues { escaped($0, quoting: quoting) })
        }
    }
}

/// Wraps the handler the executable bootstraps (text or JSON) so that the message,
/// every metadata value and an attached error reach it escaped (`LogText.escaped`):
/// one place for every log call, the access log included, instead of each call site
/// remembering to escape what it logs.
public struct EscapingLogHandler<Inner: LogHandler>: LogHandler {
    private var inner: Inner
    /// Kept here, not in `inner`, so that it is escaped at log time like the rest.
    public var metadata: Logger.Metadata = [:]

    /// Metadata values quoted where a `key=value` reader would split them
    /// (`LogText.quotedIfNeeded`): for the text format, not JSON, which quotes its own.
    private let quotesValues: Bool

    public init(_ inner: Inner, quotingValues: Bool = false) {
        self.inner = inner
        self.quotesValues = quotingValues
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            event.error = nil
        }
        event.message = "\(LogText.escaped(event.message.description))"
        event.metadata = merged.isEmpty ? nil : merged.mapValues { LogText.escaped($0, quoting: quotesValues) }
        inner.log(event: event)
    }
}
