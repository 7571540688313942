/// One of a route's `tags` (DESIGN "Beyond purge rules"): Surrogate-Key tags taken
/// from the JSON answer when it is stored. `"user:$.items[*].id"` tags a list with
/// `user:7`, `user:9`, … for the users it contains, so a purge rule with `"tags":
/// ["user:{id}"]` on `PUT /api/users/{id}` reaches every cached list holding that user
/// without anyone naming the lists.
public struct BodyTag: Sendable, Equatable, CustomStringConvertible {
    public enum Step: Sendable, Equatable {
        /// `.name`: an object's member.
        case member(String)
        /// `[*]`: every element of an array.
        case each
    }

    /// The text before `$`, put in front of every value.
    public let prefix: String
    public let steps: [Step]
    public let source: String

    /// Tags one entry may carry, from its body (the rest are dropped and the fill logs
    /// it): each is a purge scope a lookup in Redis reads.
    public static let maxPerEntry = 64

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case noPath
        case badPath(String)
        case spaceInPrefix

        public var description: String {
            switch self {
            case .noPath: "a tag is a prefix then a JSON path: \"user:$.id\", \"user:$.items[*].id\""
            case .badPath(let rest): "\"\(rest)\" is not a path step: use .name and [*]"
            case .spaceInPrefix: "a tag has no spaces or commas (tags are listed separated by them)"
            }
        }
    }

    public init(parsing source: String) throws(ParseError) {
        guard let dollar = source.firstIndex(of: "$") else { throw .noPath }
        let prefix = source[..<dollar]
        guard !prefix.contains(where: Self.separates) else { throw .spaceInPrefix }
        var rest = source[source.index(after: dollar)...]
        var steps: [Step] = []
        while !rest.isEmpty {
            if rest.hasPrefix("[*]") {
                steps.append(.each)
                rest = rest.dropFirst(3)
                continue
            }
            guard rest.first == "." else { throw .badPath(String(rest)) }
            let name = rest.dropFirst().prefix { $0 != "." && $0 != "[" }
            guard !name.isEmpty, !name.contains(where: { $0 == "$" || $0 == "]" || $0 == "*" }) else { throw .badPath(String(rest)) }
            steps.append(.member(String(name)))
            rest = rest[name.endIndex...]
        }
        self.prefix = String(prefix)
        self.steps = steps
        self.source = source
    }

    public var description: String { source }

    /// What `rules` read from an answer: its tags, each once, in order, at most
    /// `maxPerEntry`; `dropped` counts the values over the limit, `unnamable` the values
    /// no tag can hold.
    ///
    /// Values are strings, numbers and booleans. An empty one gives no tag: no write
    /// names an empty id. One holding a space or comma, or a whole number past 2^53 (which
    /// id it is, is not known once read as a Double), gives none either, yet a write can
    /// name it (`PUT /api/users/john%20doe`): an answer with such a value is not stored,
    /// as one with too many tags is, since that write's purge would miss it.
    public struct Reading: Equatable, Sendable {
        public var tags: [String] = []
        public var dropped = 0
        public var unnamable = 0
    }

    /// The tags `rules` give `body`.
    public static func tags(_ rules: [BodyTag], in body: JSONValue) -> Reading {
        var found = Found()
        for rule in rules {
            rule.visit(body, rule.steps[...]) { found.add(rule, $0) }
        }
        return found.reading
    }

    /// The same for a JSON document as it came (nil when it is not JSON): parsed whole
    /// up to `wholeUpTo` bytes, scanned past it (`JSONMembers.scalars`), so a tagged
    /// answer of `maxBodySize` costs one pass and no tree. The scan finds the same
    /// values; the tags of two rules come in document order rather than rule by rule,
    /// which only matters past `maxPerEntry`, where the answer is not stored anyway.
    public static func tags(_ rules: [BodyTag], inJSON bytes: UnsafeRawBufferPointer, wholeUpTo: Int = 64 << 10) -> Reading? {
        if bytes.count <= wholeUpTo { return JSONValue.parse(bytes).map { tags(rules, in: $0) } }
        var found = Found()
        guard JSONMembers.scalars(bytes, at: rules.map(\.steps), { value, ends in
            for index in ends { found.add(rules[index], value) }
        }) else { return nil }
        return found.reading
    }

    /// Tags as they are found: each once, at most `maxPerEntry`; past them a value not
    /// among them is counted each time it comes, not remembered (a list of a million ids
    /// would fill a set for nothing: the answer is not stored).
    private struct Found {
        var reading = Reading()
        var seen: Set<String> = []

        mutating func add(_ rule: BodyTag, _ value: JSONValue) {
            guard let text = value.scalarText else {
                if case .number = value { reading.unnamable += 1 }
                return
            }
            guard !text.isEmpty else { return }
            guard !holdsSeparator(text) else {
                reading.unnamable += 1
                return
            }
            let tag = rule.prefix + text
            if reading.tags.count < maxPerEntry {
                if seen.insert(tag).inserted { reading.tags.append(tag) }
            } else if !seen.contains(tag) {
                reading.dropped += 1
            }
        }
    }

    private func visit(_ node: JSONValue, _ steps: ArraySlice<Step>, _ found: (JSONValue) -> Void) {
        guard let step = steps.first else { return found(node) }
        switch (step, node) {
        case (.member(let name), .object(let members)):
            if let next = members[name] { visit(next, steps.dropFirst(), found) }
        case (.each, .array(let elements)):
            for element in elements { visit(element, steps.dropFirst(), found) }
        default:
            return
        }
    }

    /// Space and comma separate tags in `Surrogate-Key` and `Sidecache-Purge`.
    static func separates(_ c: Character) -> Bool { c == " " || c == "," || c == "\t" || c.isNewline }

    /// `text.contains(where: separates)`, read byte by byte when it is ASCII (every id in
    /// a long list passes here; walking Characters was most of a tagged fill's time).
    static func holdsSeparator(_ text: String) -> Bool {
        var ascii = true
        for byte in text.utf8 {
            if byte >= 0x80 { ascii = false; break }
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: ",") || (0x09...0x0D).contains(byte) { return true }
        }
        return !ascii && text.contains(where: separates)
    }
}

/// A purge rule's tag target: literals and placeholders filled from the mutation, as in
/// path templates (`user:{id}`, `team:{body.teamId}`). Values go in as they are, not
/// percent-encoded: a tag is not a path.
public struct TagTemplate: Sendable, Equatable, CustomStringConvertible {
    public let pieces: [PathTemplate.Piece]
    public let source: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case separator
        case badPlaceholder(String)

        public var description: String {
            switch self {
            case .empty: "a tag is not empty"
            case .separator: "a tag has no spaces or commas (tags are listed separated by them)"
            case .badPlaceholder(let p): "\"\(p)\" is not a placeholder: use {param}, {query.NAME}, {header.NAME} or {body.a.b}"
            }
        }
    }

    public init(parsing source: String) throws(ParseError) {
        guard !source.isEmpty else { throw .empty }
        guard !source.contains(where: BodyTag.separates) else { throw .separator }
        var pieces: [PathTemplate.Piece] = []
        var rest = Substring(source)
        while let open = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) {
            guard rest[open] == "{", let close = rest[open...].firstIndex(of: "}") else { throw .badPlaceholder(String(rest[open...])) }
            if open > rest.startIndex { pieces.append(.literal(String(rest[..<open]))) }
            do {
                pieces.append(.value(try PathTemplate.placeholder(String(rest[rest.index(after: open)..<close]))))
            } catch {
                throw .badPlaceholder(String(rest[open...close]))
            }
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { pieces.append(.literal(String(rest))) }
        self.pieces = pieces
        self.source = source
    }

    public var parameterNames: [String] {
        pieces.compactMap { if case .value(.param(let n)) = $0 { n } else { nil } }
    }

    /// Whether a placeholder has no value, or only empty ones: the target widens then,
    /// as a path's does. A value no tag can hold (a space or comma) does not: no entry
    /// carrying it is stored (`BodyTag.Reading.unnamable`), so there is nothing to reach.
    public func lacksValue(_ values: PurgeValues) -> Bool {
        pieces.contains { piece in
            guard case .value(let source) = piece else { return false }
            return values.texts(source).allSatisfy(\.isEmpty)
        }
    }

    /// Whether a tag this template names could be one `rule` gives: one's text before
    /// its first placeholder and the other's prefix agree as far as both go.
    public func couldName(_ rule: BodyTag) -> Bool {
        var fixed = ""
        for piece in pieces {
            guard case .literal(let text) = piece else { break }
            fixed += text
        }
        return fixed.hasPrefix(rule.prefix) || rule.prefix.hasPrefix(fixed)
    }

    public var readsBody: Bool { !bodyPaths.isEmpty }

    /// The members of the JSON body the template reads.
    public var bodyPaths: [[String]] { pieces.bodyPaths }

    public var description: String { source }

    /// The tags, one for each reading of values given more than once (`?id=1&id=2`:
    /// `user:1` and `user:2`, whichever the upstream took); none when a value is
    /// missing, empty or holds a separator, or past `BodyTag.maxPerEntry` readings (a
    /// missing or empty one widens the target to routes: `PurgePlan.scopes`).
    public func expand(_ values: PurgeValues) -> [String] {
        var tags = [""]
        for piece in pieces {
            switch piece {
            case .literal(let text):
                for i in tags.indices { tags[i] += text }
            case .value(let source):
                // Tags from the body are its JSON strings, decoded: a path or query value is
                // decoded to match (`caf%C3%A9`, `a%40b.com` as `encodeURIComponent` sends
                // them missed `user:café` and `user:a@b.com`).
                let texts = values.texts(source).map { text in
                    switch source {
                    case .param: String(decoding: text, form: false)
                    case .query: String(decoding: text, form: true)
                    case .header, .body: text
                    }
                }.filter { !$0.isEmpty && !$0.contains(where: BodyTag.separates) }
                guard !texts.isEmpty, tags.count * texts.count <= BodyTag.maxPerEntry else { return [] }
                tags = tags.flatMap { tag in texts.map { tag + $0 } }
            }
        }
        return tags
    }
}
