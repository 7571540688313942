import Foundation

/// A parsed JSON document: proxy.json, and request bodies that purge templates read.
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    /// A whole number, exactly: ids past 2^53 (Snowflake, int64 keys) that a Double
    /// rounds, so a purge template or body tag built from one named another id.
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Parses UTF-8 JSON text; nil when it is not JSON. Through `JSONSerialization`,
    /// not `Decodable`: request bodies a purge template reads and answers whose tags
    /// are taken come from outside, and decoding tries each type in turn, building a
    /// `DecodingError` for every miss — a MiB of `[{},{},…]` took 1.3 s against 0.13.
    public static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) else { return nil }
        return JSONValue(parsed: parsed)
    }

    private init?(parsed: Any) {
        switch parsed {
        case is NSNull:
            self = .null
        case let text as String:
            self = .string(text)
        case let number as NSNumber:
            // JSONSerialization's true and false are NSNumbers of type `c` (char); its numbers
            // never are. A whole number that fits is an Int64 (`q`), read without rounding.
            switch UInt8(bitPattern: number.objCType.pointee) {
            case UInt8(ascii: "c"): self = .bool(number.boolValue)
            case UInt8(ascii: "q"), UInt8(ascii: "l"), UInt8(ascii: "i"), UInt8(ascii: "s"): self = .integer(number.int64Value)
            default: self = .number(number.doubleValue)
            }
        case let items as [Any]:
            var values: [JSONValue] = []
            values.reserveCapacity(items.count)
            for item in items {
                guard let value = JSONValue(parsed: item) else { return nil }
                values.append(value)
            }
            self = .array(values)
        case let members as [String: Any]:
            var values: [String: JSONValue] = [:]
            values.reserveCapacity(members.count)
            for (name, member) in members {
                guard let value = JSONValue(parsed: member) else { return nil }
                values[name] = value
            }
            self = .object(values)
        default:
            return nil
        }
    }

    /// The value at a member path (`["user", "id"]`), or nil.
    public func value(at path: some Collection<String>) -> JSONValue? {
        var node = self
        for key in path {
            guard case .object(let members) = node, let next = members[key] else { return nil }
            node = next
        }
        return node
    }

    /// Text for a scalar: strings as they are, whole numbers without a fraction. Nil for
    /// the rest, and for a whole number past 2^53 that came as a Double (`1e20`, past
    /// Int64, or negative: Foundation reads those as Doubles): which id it names is not
    /// known, and a template without a value widens.
    public var scalarText: String? {
        switch self {
        case .string(let s): s
        case .bool(let b): b ? "true" : "false"
        case .integer(let i): String(i)
        case .number(let n) where n == n.rounded(): abs(n) < 0x1p53 ? String(Int64(n)) : nil
        case .number(let n): String(n)
        default: nil
        }
    }

    /// Either kind of number, as a Double (config values).
    public var numeric: Double? {
        switch self {
        case .number(let n): n
        case .integer(let i): Double(i)
        default: nil
        }
    }

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number, .integer: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
