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
    /// Each segment's literal bytes, nil for a parameter: `walk` compares bytes.
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

    /// Whether the segments after the first `count` are all `{param}`s or the `*`: what
    /// a path below its first `count` segments may spell there is not the pattern's.
    public func leavesToVariables(after count: Int) -> Bool {
        segments.dropFirst(count).allSatisfy { if case .parameter = $0 { true } else { false } }
    }

    /// Whether this pattern matches every path `other` matches. `caseInsensitive`: how
    /// this pattern compares its literal segments.
    public func covers(_ other: PathPattern, caseInsensitive: Bool) -> Bool {
        if hasRest {
            guard segments.count < other.segments.count || (segments.count == other.segments.count && other.hasRest) else { return false }
        } else {
            guard !other.hasRest, segments.count == other.segments.count else { return false }
        }
        for (mine, theirs) in zip(segments, other.segments) {
            switch (mine, theirs) {
            case (.parameter, _): continue
            case (.literal, .parameter): return false
            case (.literal(let a), .literal(let b)):
                guard caseInsensitive ? a.lowercased() == b.lowercased() : a == b else { return false }
            }
        }
        return true
    }

    public var parameterNames: [String] {
        segments.compactMap { if case .parameter(let n) = $0 { n } else { nil } }
    }

    public var description: String { source }

    /// True when `path` matches. Allocates nothing for a native string. `caseInsensitive`
    /// compares literal segments ignoring ASCII case (routes whose origin reads paths so).
    public func matches(_ path: Substring, caseInsensitive: Bool = false) -> Bool {
        withBytes(of: path) { walk($0, caseInsensitive: caseInsensitive) { _, _ in } }
    }

    /// The values bound by `{name}` segments, raw (still percent-encoded), or nil on no
    /// match; `caseInsensitive` as for `matches`.
    public func captures(_ path: Substring, caseInsensitive: Bool = false) -> [String: String]? {
        withBytes(of: path) { bytes in
            var found: [String: String] = [:]
            return walk(bytes, caseInsensitive: caseInsensitive) { name, value in
                found[name] = String(decoding: bytes[value], as: UTF8.self)
            } ? found : nil
        }
    }

    /// `body` over the path's UTF-8 bytes, in place: every request is matched against
    /// the routes in turn, and one that no route takes against all of them.
    private func withBytes<T>(of path: Substring, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        if let result = path.utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = String(path)
        return copy.withUTF8(body)
    }

    private func walk(_ path: UnsafeBufferPointer<UInt8>, caseInsensitive: Bool = false, bind: (String, Range<Int>) -> Void) -> Bool {
        let slash = UInt8(ascii: "/")
        guard path.first == slash else { return false }
        if segments.isEmpty && !hasRest { return path.count == 1 }   // the root pattern "/"
        var cursor = 1
        var exhausted = false
        for (segment, literal) in zip(segments, literals) {
            if exhausted { return false }
            var end = cursor
            while end < path.count && path[end] != slash { end += 1 }
            switch segment {
            case .literal:
                guard let literal, end - cursor == literal.count else { return false }
                for (i, byte) in literal.enumerated() where byte != path[cursor + i] {
                    guard caseInsensitive, asciiCaseInsensitiveEqual(byte, path[cursor + i]) else { return false }
                }
            case .parameter(let name):
                guard end > cursor else { return false }   // a parameter takes a non-empty segment
                bind(name, cursor..<end)
            }
            if end == path.count { exhausted = true } else { cursor = end + 1 }
        }
        return hasRest || exhausted
    }
}
