import Foundation

/// A parsed JSON document: proxy.json, and request bodies that purge templates read.
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
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
            // JSONSerialization's true and false are NSNumbers of type `c` (char); its numbers never are.
            self = number.objCType.pointee == CChar(UInt8(ascii: "c")) ? .bool(number.boolValue) : .number(number.doubleValue)
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

    /// Text for a scalar: strings as they are, integers without a fraction. Nil for the rest.
    public var scalarText: String? {
        switch self {
        case .string(let s): s
        case .bool(let b): b ? "true" : "false"
        case .number(let n) where n == n.rounded() && abs(n) < 1e15: String(Int64(n))
        case .number(let n): String(n)
        default: nil
        }
    }

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
