/// JSON built in order and rendered as text: the admin API's answers and JSON log
/// lines keep their keys in the documented order, which a dictionary cannot promise.
public indirect enum JSONText: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    /// Rendered with at most three decimals; NaN and infinities render as null.
    case number(Double)
    case string(String)
    case array([JSONText])
    case object([(String, JSONText)])

    public static func == (a: JSONText, b: JSONText) -> Bool { a.rendered == b.rendered }

    public var rendered: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let n): out += String(n)
        case .number(let x):
            guard x.isFinite else { out += "null"; return }
            let r = (x * 1000).rounded() / 1000
            out += r == r.rounded() && abs(r) < 1e15 ? String(Int64(r)) : String(r)
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                Self.quote(key, into: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            if scalar == "\"" { out += "\\\"" } else { append(scalar, into: &out, escaping: { $0.value < 0x20 }) }
        }
        out += "\""
    }

    /// `scalar` as JSON writes it inside a string: `\\`, `\n`, `\r`, `\t`, and `\uXXXX` for
    /// the other scalars `escaping` picks. Log escaping uses the same forms (`LogText`).
    public static func append(_ scalar: Unicode.Scalar, into out: inout String, escaping: (Unicode.Scalar) -> Bool) {
        switch scalar {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where escaping(scalar):
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
}
