/// One thing wrong with a config, at its JSON path (`routes[2].ttl`).
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found in a config, reported together so one edit fixes them all.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var file: String?
    public var problems: [ConfigProblem]

    public var description: String {
        let head = file.map { "\($0): " } ?? ""
        if problems.count == 1 { return head + problems[0].description }
        return head + "\(problems.count) problems\n" + problems.map { "  " + $0.description }.joined(separator: "\n")
    }
}
