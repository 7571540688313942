/// A purge target path: literals and placeholders filled from the mutation that
/// triggered it (`/api/users/{id}`, `/status/{body.userId}`, `/feed/*`).
public struct PathTemplate: Sendable, Equatable, CustomStringConvertible {
    public enum Source: Sendable, Equatable {
        case param(String)
        case query(String)
        case header(String)
        case body([String])
    }

    public enum Piece: Sendable, Equatable {
        case literal(String)
        case value(Source)
    }

    public let segments: [Piece]
    public let isSubtree: Bool
    public let source: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notAbsolute, emptySegment, starNotLast
        case badPlaceholder(String)
        /// `{header.X_Y}` (the name given): requests lose fields named with `_` (`isRequestFieldName`).
        case notARequestField(String)

        public var description: String {
            switch self {
            case .notAbsolute: "a purge path starts with /"
            case .emptySegment: "empty segment (//)"
            case .starNotLast: "* may only be the final segment"
            case .badPlaceholder(let p): "\"\(p)\" is not a placeholder: use {param}, {query.NAME}, {header.NAME} or {body.a.b}"
            case .notARequestField(let name): notARequestFieldName(name)
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
        var pieces: [Piece] = []
        for part in shape.segments {
            if part.contains("{") || part.contains("}") {
                guard part.hasPrefix("{"), part.hasSuffix("}") else { throw .badPlaceholder(String(part)) }
                pieces.append(.value(try Self.placeholder(String(part.dropFirst().dropLast()))))
            } else {
                pieces.append(.literal(String(part)))
            }
        }
        self.source = source
        segments = pieces
        isSubtree = shape.star
    }

    /// `text` is a placeholder's inside, without the braces.
    static func placeholder(_ text: String) throws(ParseError) -> Source {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: \.isEmpty) else { throw .badPlaceholder("{\(text)}") }
        switch (parts.first, parts.count) {
        case ("query", 2): return .query(parts[1])
        case ("header", 2):
            guard isRequestFieldName(parts[1]) else { throw .notARequestField(parts[1]) }
            return .header(parts[1])
        case ("body", 2...): return .body(Array(parts.dropFirst()))
        case (_, 1): return .param(parts[0])
        default: throw .badPlaceholder("{\(text)}")
        }
    }

    public var parameterNames: [String] {
        segments.compactMap { if case .value(.param(let n)) = $0 { n } else { nil } }
    }

    public var readsBody: Bool { !bodyPaths.isEmpty }

    /// The members of the JSON body the template reads (`{body.a.b}`: `["a", "b"]`).
    public var bodyPaths: [[String]] { segments.bodyPaths }

    public var description: String { source }

    /// Fills the template. A value that is missing, empty, given more than once or
    /// contains "/" cannot name one segment, so the target widens to the subtree under
    /// the static prefix before it, and `widened` names the placeholder for the warning.
    public func expand(_ values: PurgeValues) -> (scope: PurgeScope, widened: String?) {
        var path = ""
        for piece in segments {
            switch piece {
            case .literal(let text):
                path += "/" + text
            case .value(let source):
                guard let value = values.lookup(source), !value.isEmpty, !value.contains("/") else {
                    return (.subtree(path + "/"), Self.describe(source))
                }
                path += "/" + value
            }
        }
        if isSubtree { return (.subtree(path + "/"), nil) }
        return (.path(path.isEmpty ? "/" : path), nil)
    }

    private static func describe(_ source: Source) -> String {
        switch source {
        case .param(let n): "{\(n)}"
        case .query(let n): "{query.\(n)}"
        case .header(let n): "{header.\(n)}"
        case .body(let p): "{body.\(p.joined(separator: "."))}"
        }
    }
}

/// Where a template's placeholders get their values: the mutation's path parameters,
/// query, headers and JSON body.
public struct PurgeValues {
    public var params: [String: String]
    public var query: Substring?
    public var headers: any HeaderFields
    public var body: JSONValue?

    public init(params: [String: String], query: Substring?, headers: any HeaderFields, body: JSONValue?) {
        self.params = params
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The value for one placeholder, ready to be a path segment. A path parameter is one
    /// segment as received (already percent-encoded; its `%2F` names no cacheable path,
    /// and widening on it would let any client flush the subtree). Query values are
    /// decoded as the upstream reads them (`+` a space), then percent-encoded as header
    /// and body values are, the way a client writes them in a path: taken as received,
    /// `?path=a%2Fb` named a path no entry has where its "/" must widen the purge, and
    /// `?id=a+b` purged `/a+b`, not the `/a%20b` the upstream changed. (`spellings`
    /// reaches each such path raw and encoded.) Nil for none, and for more than one
    /// reading: which the upstream took is not known.
    func lookup(_ source: PathTemplate.Source) -> String? {
        let texts = texts(source)
        guard texts.count == 1, let value = texts.first else { return nil }
        let decoded: [UInt8]
        switch source {
        case .param: return value
        case .query: decoded = Array(IteratorSequence(Decoded(value.utf8, form: true)))
        case .header, .body: decoded = Array(value.utf8)
        }
        // A "/" is reported as such (it cannot be one segment) rather than encoded away.
        if decoded.contains(UInt8(ascii: "/")) { return "/" }
        return percentEncodeSegment(decoded)
    }

    /// Every reading of one placeholder's value the mutation gave, each once. A query
    /// name or header sent twice (`?id=1&id=2`) is the first value to some upstreams
    /// and the last to others (PHP, Django and Rails take the last; Node joins header
    /// lines), and `;` separates query pairs to some (`?id=1;id=2`) and not to others:
    /// a purge built from one reading missed the entry the upstream changed. A query
    /// name counts in every spelling an upstream reads as it (`?id=5&%69d=7` names `id`
    /// twice: `queryName`). Header
    /// values without the blanks around them (RFC 9110 §5.5: `X-Id: 1 ` is `1`).
    func texts(_ source: PathTemplate.Source) -> [String] {
        var found: [String] = []
        func add(_ value: String) { if !found.contains(value) { found.append(value) } }
        switch source {
        case .param(let n):
            params[n].map(add)
        case .query(let n):
            guard let query else { return [] }
            for separators: [Character] in [["&"], ["&", ";"]] {
                for pair in query.split(whereSeparator: separators.contains) {
                    let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    if queryName(kv[0].utf8, readsAs: n) { add(kv.count == 2 ? String(kv[1]) : "") }
                }
            }
        case .header(let n):
            headers.all(n).forEach { add($0.trimmingSpaces()) }
        case .body(let path):
            body?.value(at: path)?.scalarText.map(add)
        }
        return found
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and sub-delims/":"/"@"
/// (the pchar set), leaving "/" for the caller to reject.
func percentEncodeSegment(_ bytes: some Sequence<UInt8>) -> String {
    var out: [UInt8] = []
    for b in bytes {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
             UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"):
            out.append(b)
        default:
            out.appendPercentEscape(of: b)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

extension Sequence<PathTemplate.Piece> {
    var bodyPaths: [[String]] { compactMap { if case .value(.body(let path)) = $0 { path } else { nil } } }
}
