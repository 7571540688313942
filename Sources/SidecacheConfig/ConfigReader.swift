import SidecacheCore

/// Collects problems while the loader walks the JSON tree.
final class ConfigReader {
    let environment: [String: String]
    private(set) var problems: [ConfigProblem] = []

    init(environment: [String: String]) { self.environment = environment }

    func report(_ path: String, _ message: String) {
        problems.append(ConfigProblem(path: path, message: message))
    }
}

/// One value of the document and where it sits, with typed readers that report a
/// problem (and return nil) instead of throwing, so every problem is found in one pass.
struct Node {
    let value: JSONValue
    let path: String
    let reader: ConfigReader

    func report(_ message: String) { reader.report(path, message) }

    func child(_ key: String, _ value: JSONValue) -> Node {
        Node(value: value, path: path.isEmpty ? key : "\(path).\(key)", reader: reader)
    }

    /// The members of an object; unknown keys are reported (a typo must not be ignored).
    func object(allowing keys: [String]) -> [String: Node]? {
        guard case .object(let members) = value else {
            report("expected an object, found \(value.typeName)")
            return nil
        }
        var nodes: [String: Node] = [:]
        for (key, v) in members.sorted(by: { $0.key < $1.key }) {
            if keys.contains(key) {
                nodes[key] = child(key, v)
            } else {
                child(key, v).report("unknown key (expected one of: \(keys.joined(separator: ", ")))")
            }
        }
        return nodes
    }

    /// The members of an object whose keys are free (header names), in key order.
    func objectMembers() -> [(String, Node)]? {
        guard case .object(let members) = value else {
            report("expected an object, found \(value.typeName)")
            return nil
        }
        return members.sorted { $0.key < $1.key }.map { ($0.key, child($0.key, $0.value)) }
    }

    func array() -> [Node]? {
        guard case .array(let items) = value else {
            report("expected an array, found \(value.typeName)")
            return nil
        }
        return items.enumerated().map { Node(value: $1, path: "\(path)[\($0)]", reader: reader) }
    }

    /// A string with `${NAME}` references expanded.
    func string() -> String? {
        guard case .string(let raw) = value else {
            report("expected a string, found \(value.typeName)")
            return nil
        }
        switch interpolate(raw, reader.environment) {
        case .success(let s): return s
        case .failure(let e):
            report(e.description)
            return nil
        }
    }

    func strings() -> [String]? {
        guard let items = array() else { return nil }
        let values = items.compactMap { $0.string() }
        return values.count == items.count ? values : nil
    }

    func bool() -> Bool? {
        guard case .bool(let b) = value else {
            report("expected true or false, found \(value.typeName)")
            return nil
        }
        return b
    }

    func int(atLeast minimum: Int, atMost maximum: Int = .max) -> Int? {
        guard let n = value.numeric else {
            report("expected a whole number, found \(value.typeName)")
            return nil
        }
        guard n == n.rounded() else {
            report("expected a whole number, found a fraction")
            return nil
        }
        // Past 10^15 a JSON number is not read exactly (nor held by an Int past 2^63).
        guard abs(n) < 1e15 else {
            report(n > 0 ? "must be at most \(min(maximum, 999_999_999_999_999))" : "must be at least \(minimum)")
            return nil
        }
        guard Int(n) >= minimum else {
            report("must be at least \(minimum)")
            return nil
        }
        guard Int(n) <= maximum else {
            report("must be at most \(maximum)")
            return nil
        }
        return Int(n)
    }

    func duration() -> Duration? {
        if let n = value.numeric {
            // `"ttl": 3600`: whole seconds.
            guard n >= 0, n == n.rounded(), n <= Double(longestDuration.components.seconds) else {
                report("\(n) is not a duration (a whole number of seconds up to 3650 days, or 300s, 5m, 1h)")
                return nil
            }
            return .seconds(Int64(n))
        }
        guard case .string = value else {
            report("expected a duration (300s, 5m, 1h) or a whole number of seconds, found \(value.typeName)")
            return nil
        }
        guard let text = string() else { return nil }
        guard let d = parseDuration(text) else {
            report("\"\(text)\" is not a duration (use 300s, 5m, 1h)")
            return nil
        }
        guard d <= longestDuration else {
            report("\"\(text)\" is longer than the 3650d a duration may be")
            return nil
        }
        return d
    }

    /// `atMost`: a body is held in one buffer, whose size NIO counts in 32 bits (and a
    /// larger one stops the process), so body limits take at most 2 GiB.
    func size(atMost maximum: Int = .max) -> Int? {
        guard let text = string() else { return nil }
        guard let n = parseSize(text) else {
            report("\"\(text)\" is not a size (use 0, 512KiB, 8MiB, 1GiB)")
            return nil
        }
        guard n <= maximum else {
            report("\"\(text)\" is more than the \(maximum >> 30)GiB this limit may be")
            return nil
        }
        return n
    }
}
