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
    /// Each segment's literal bytes, nil for a parameter: `matches` compares bytes.
    private let literals: [[UInt8]?]

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
        let shape: (segments: [Substring], star: Bool)
        do { shape = try PathShape.split(source) } catch {
            switch error {
            case .notAbsolute: throw .notAbsolute
            case .emptySegment: throw .emptySegment
            case .starNotLast: throw .starNotLast
            }
        }
        var segments: [Segment] = []
        for part in shape.segments {
            if part.contains("{") || part.contains("}") {
                guard part.hasPrefix("{"), part.hasSuffix("}"), part.count > 2 else { throw .badParameter(String(part)) }
                let name = String(part.dropFirst().dropLast())
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { throw .badParameter(String(part)) }
                if segments.contains(.parameter(name)) { throw .duplicateParameter(name) }
                segments.append(.parameter(name))
            } else {
                segments.append(.literal(String(part)))
            }
        }
        self.source = source
        self.segments = segments
        self.hasRest = shape.star
        self.literals = segments.map { if case .literal(let text) = $0 { Array(text.utf8) } else { nil } }
    }

    public var parameterNames: [String] {
        segments.compactMap { if case .parameter(let n) = $0 { n } else { nil } }
    }

    public var description: String { source }

    /// True when `path` matches. Allocates nothing. `caseInsensitive` compares
    /// literal segments ignoring ASCII case (routes whose origin reads paths so).
    public func matches(_ path: Substring, caseInsensitive: Bool = false) -> Bool {
        // Every request is matched against the routes in turn, and a request no route
        // takes against all of them: compare the path's bytes in place.
        if let matched = path.utf8.withContiguousStorageIfAvailable({ matches($0, caseInsensitive: caseInsensitive) }) {
            return matched
        }
        return walk(path, caseInsensitive: caseInsensitive) { _, _ in }
    }

    /// `walk` without captures, over contiguous bytes.
    private func matches(_ path: UnsafeBufferPointer<UInt8>, caseInsensitive: Bool) -> Bool {
        let slash = UInt8(ascii: "/")
        guard path.first == slash else { return false }
        if segments.isEmpty && !hasRest { return path.count == 1 }   // the root pattern "/"
        var cursor = 1
        var exhausted = false
        for literal in literals {
            if exhausted { return false }
            var end = cursor
            while end < path.count && path[end] != slash { end += 1 }
            if let literal {
                guard end - cursor == literal.count else { return false }
                for (i, byte) in literal.enumerated() where byte != path[cursor + i] {
                    guard caseInsensitive, byte.asciiLowercased == path[cursor + i].asciiLowercased else { return false }
                }
            } else if end == cursor {
                return false   // a parameter takes a non-empty segment
            }
            if end == path.count { exhausted = true } else { cursor = end + 1 }
        }
        return hasRest || exhausted
    }

    public func captures(_ path: Substring) -> [String: String]? {
        var found: [String: String] = [:]
        return walk(path) { name, value in found[name] = String(value) } ? found : nil
    }

    private func walk(_ path: Substring, caseInsensitive: Bool = false, bind: (String, Substring) -> Void) -> Bool {
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
                guard caseInsensitive ? piece.utf8.elementsEqual(text.utf8, by: { $0.asciiLowercased == $1.asciiLowercased })
                                      : piece.utf8.elementsEqual(text.utf8) else { return false }
            case .parameter(let name):
                guard !piece.isEmpty else { return false }
                bind(name, piece)
            }
            if end == utf8.endIndex { exhausted = true } else { cursor = utf8.index(after: end) }
        }
        return hasRest || exhausted
    }
}
