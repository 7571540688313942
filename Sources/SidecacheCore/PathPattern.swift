/// A compiled path pattern: literal segments, `{name}` binding one segment, and an
/// optional final `*` matching the rest. Matching works on the raw bytes of the path.
public struct PathPattern: Sendable, Equatable, CustomStringConvertible {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public let segments: [Segment]
    /// A final `*`: matches any remainder, including none.
    public let hasRest: Bool
    public let source: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notAbsolute
        case emptySegment
        case badParameter(String)
        case starNotLast
        case duplicateParameter(String)

        public var description: String {
            switch self {
            case .notAbsolute: "a path pattern starts with /"
            case .emptySegment: "empty segment (//)"
            case .badParameter(let p): "\"\(p)\" is not a parameter: use {name} with letters, digits or _"
            case .starNotLast: "* may only be the final segment"
            case .duplicateParameter(let p): "parameter {\(p)} appears twice"
            }
        }
    }

    public init(parsing source: String) throws(ParseError) {
        guard source.hasPrefix("/") else { throw .notAbsolute }
        self.source = source
        var segments: [Segment] = []
        var hasRest = false
        let parts = source.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if part.isEmpty {
                // "/" alone is the root; a trailing empty segment is not allowed elsewhere.
                if parts.count == 1 { break }
                throw .emptySegment
            }
            if part == "*" {
                guard i == parts.count - 1 else { throw .starNotLast }
                hasRest = true
            } else if part.hasPrefix("{") || part.hasSuffix("}") || part.contains("{") {
                guard part.hasPrefix("{"), part.hasSuffix("}"), part.count > 2 else { throw .badParameter(String(part)) }
                let name = String(part.dropFirst().dropLast())
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { throw .badParameter(String(part)) }
                if segments.contains(.parameter(name)) { throw .duplicateParameter(name) }
                segments.append(.parameter(name))
            } else if part.contains("*") {
                throw .starNotLast
            } else {
                segments.append(.literal(String(part)))
            }
        }
        self.segments = segments
        self.hasRest = hasRest
    }

    public var parameterNames: [String] {
        segments.compactMap { if case .parameter(let n) = $0 { n } else { nil } }
    }

    public var description: String { source }

    /// True when `path` matches. Allocates nothing.
    public func matches(_ path: Substring) -> Bool {
        walk(path) { _, _ in }
    }

    /// The values bound by `{name}` segments, raw (still percent-encoded), or nil on no match.
    public func captures(_ path: Substring) -> [String: String]? {
        var found: [String: String] = [:]
        return walk(path) { name, value in found[name] = String(value) } ? found : nil
    }

    private func walk(_ path: Substring, bind: (String, Substring) -> Void) -> Bool {
        let slash = UInt8(ascii: "/")
        let utf8 = path.utf8
        guard utf8.first == slash else { return false }
        var cursor = utf8.index(after: utf8.startIndex)
        if segments.isEmpty && !hasRest { return cursor == utf8.endIndex }   // the root pattern "/"
        var exhausted = false
        for segment in segments {
            if exhausted { return false }
            let end = utf8[cursor...].firstIndex(of: slash) ?? utf8.endIndex
            let piece = path[cursor..<end]
            switch segment {
            case .literal(let text):
                guard piece.utf8.elementsEqual(text.utf8) else { return false }
            case .parameter(let name):
                guard !piece.isEmpty else { return false }
                bind(name, piece)
            }
            if end == utf8.endIndex { exhausted = true } else { cursor = utf8.index(after: end) }
        }
        return hasRest || exhausted
    }
}
