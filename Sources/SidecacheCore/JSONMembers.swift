/// The members of a JSON document at given member paths, read without building the
/// document. A purge template reads one or two members (`{body.userId}`) of a request
/// body that may be as large as `maxRequestBody`; `JSONValue.parse` built the whole
/// tree of it first, on the event loop, at some 40 times the body's size: one 16 MB
/// body held 600 MB and stalled the loop's other clients for 25 s.
///
/// Documents up to `wholeUpTo` bytes are still parsed whole, so everyday bodies keep
/// Foundation's reading exactly. Larger ones are scanned once: every byte is checked
/// against the JSON grammar, and only the members on a wanted path are kept. The scan
/// follows Foundation where a document's meaning depends on it — the last of two
/// members of one name wins, a trailing comma is taken, nesting past 512 levels is
/// not JSON — and otherwise errs on the lenient side (it takes numbers Foundation
/// cannot represent, lone surrogates and bytes that are not UTF-8 outside the members
/// it keeps): a value found where Foundation would find none purges precisely, where
/// a value missing would skip a tag target. UTF-16 and UTF-32, which Foundation reads
/// (RFC 4627 §3's detection), are turned into UTF-8 first.
public enum JSONMembers {
    /// The document pruned to `paths`: objects along a path keep that path's member, and
    /// a scalar at the end of a path is kept as `JSONValue.parse` reads it; nil when the
    /// bytes are not JSON.
    public static func pruned(_ bytes: UnsafeRawBufferPointer, to paths: [[String]], wholeUpTo: Int = 64 << 10) -> JSONValue? {
        if bytes.count <= wholeUpTo { return JSONValue.parse(bytes) }
        if let utf8 = Encoding(detecting: bytes)?.utf8(bytes) {
            return utf8.withUnsafeBytes { scan($0, to: paths) }
        }
        return scan(bytes, to: paths)
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer, to paths: [[String]]) -> JSONValue? {
        var wanted = Wanted()
        for (index, path) in paths.enumerated() where !path.isEmpty { wanted.add(path.map { .member($0) }[...], index: index) }
        var scanner = Scanner(bytes: bytes)
        let kept: Kept?
        do { kept = try scanner.document(wanted) } catch { return nil }
        return kept.map { value($0, in: bytes) } ?? .null
    }

    /// Every scalar at `paths` (members and `[*]`: a route's body tags) as `JSONValue.parse`
    /// reads it, in document order, with the indices of the paths that end there; false
    /// when the bytes are not JSON (what was found then counts for nothing). One pass that
    /// keeps nothing: a tagged answer may be `maxBodySize` of list, and its whole parse
    /// took seconds on the loop and some 300 bytes of memory for each byte (a 4.7 MB
    /// answer: 4.8 s, 1.2 GB). A member named twice in one object is found twice, so the
    /// caller gets more than a parse that keeps one of them, never less.
    public static func scalars(_ bytes: UnsafeRawBufferPointer, at paths: [[BodyTag.Step]],
                               _ found: (JSONValue, [Int]) -> Void) -> Bool {
        if let utf8 = Encoding(detecting: bytes)?.utf8(bytes) {
            return utf8.withUnsafeBytes { visit($0, at: paths, found) }
        }
        return visit(bytes, at: paths, found)
    }

    private static func visit(_ bytes: UnsafeRawBufferPointer, at paths: [[BodyTag.Step]], _ found: (JSONValue, [Int]) -> Void) -> Bool {
        var wanted = Wanted()
        for (index, path) in paths.enumerated() { wanted.add(path[...], index: index) }
        return withoutActuallyEscaping({ (range: Range<Int>, ends: [Int]) in
            found(scalar(UnsafeRawBufferPointer(rebasing: bytes[range])), ends)
        }) { visitor in
            var scanner = Scanner(bytes: bytes, visitor: visitor)
            do { _ = try scanner.document(wanted) } catch { return false }
            return true
        }
    }

    /// One scalar's text as `JSONValue.parse` reads it. Strings without escapes, plain
    /// whole numbers and the literals are read here; the rest by the parse.
    static func scalar(_ text: UnsafeRawBufferPointer) -> JSONValue {
        guard let first = text.first else { return .null }
        switch first {
        case UInt8(ascii: "\""):
            let inner = UnsafeRawBufferPointer(rebasing: text.dropFirst().dropLast())
            guard !inner.contains(UInt8(ascii: "\\")) else { break }
            return String(validating: inner, as: UTF8.self).map(JSONValue.string) ?? .null
        case UInt8(ascii: "t"): return .bool(true)
        case UInt8(ascii: "f"): return .bool(false)
        case UInt8(ascii: "n"): return .null
        default:
            // The scan checked the grammar (no leading zeros). Up to 18 digits always fit an
            // Int64; `-0` is left to the parse, which reads it its own way.
            let negative = first == UInt8(ascii: "-")
            let digits = negative ? text.dropFirst() : text[...]
            guard digits.count <= 18, !(negative && digits.first == UInt8(ascii: "0")), digits.allSatisfy(Scanner.isDigit) else { break }
            let magnitude = digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
            return .integer(negative ? -magnitude : magnitude)
        }
        return JSONValue.parse(text) ?? .null
    }

    /// What the scan keeps: the wanted objects, and the byte ranges of wanted scalars,
    /// read once the scan is done. Read as they come, a member repeated a million times
    /// was read a million times.
    indirect enum Kept {
        case object([String: Kept])
        case scalar(Range<Int>)
    }

    private static func value(_ kept: Kept, in bytes: UnsafeRawBufferPointer) -> JSONValue {
        switch kept {
        case .object(let members): .object(members.mapValues { value($0, in: bytes) })
        // A wanted scalar the whole parse cannot read (`1e400`) is missing to it too.
        case .scalar(let range): JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[range])) ?? .null
        }
    }

    /// The paths as a tree of steps.
    struct Wanted {
        var members: [String: Wanted] = [:]
        /// `[*]`: what every element of an array here is wanted for (one at most).
        private var elements: [Wanted] = []
        /// The paths that end here, by index: a scalar here is kept.
        var ends: [Int] = []

        var each: Wanted? { elements.first }

        mutating func add(_ path: ArraySlice<BodyTag.Step>, index: Int) {
            switch path.first {
            case nil: ends.append(index)
            case .member(let name)?: members[name, default: Wanted()].add(path.dropFirst(), index: index)
            case .each?:
                if elements.isEmpty { elements.append(Wanted()) }
                elements[0].add(path.dropFirst(), index: index)
            }
        }
    }

    struct NotJSON: Error {}

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var i = 0
        /// Called with each wanted scalar instead of keeping it (`scalars`).
        let visitor: ((Range<Int>, [Int]) -> Void)?
        /// Foundation refuses deeper documents; a bound also keeps the scan's recursion shallow.
        static let maxDepth = 512

        init(bytes: UnsafeRawBufferPointer, visitor: ((Range<Int>, [Int]) -> Void)? = nil) {
            self.bytes = bytes
            self.visitor = visitor
        }

        private var next: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func document(_ wanted: Wanted) throws(NotJSON) -> Kept? {
            if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }   // a UTF-8 BOM, as Foundation
            skipBlanks()
            let value = try value(wanted, depth: 0)
            skipBlanks()
            guard i == bytes.count else { throw NotJSON() }
            return value
        }

        private mutating func skipBlanks() {
            while let b = next, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { i += 1 }
        }

        /// Moves past one value; returns what of it `wanted` keeps (nil: nothing).
        private mutating func value(_ wanted: Wanted?, depth: Int) throws(NotJSON) -> Kept? {
            guard let b = next else { throw NotJSON() }
            let start = i
            switch b {
            case UInt8(ascii: "{"):
                return try object(wanted, depth: depth + 1)
            case UInt8(ascii: "["):
                try array(wanted?.each, depth: depth + 1)
                return nil
            case UInt8(ascii: "\""):
                _ = try string()
            case UInt8(ascii: "t"):
                try literal("true")
            case UInt8(ascii: "f"):
                try literal("false")
            case UInt8(ascii: "n"):
                try literal("null")
            default:
                try number()
            }
            guard let ends = wanted?.ends, !ends.isEmpty else { return nil }
            if let visitor {
                visitor(start..<i, ends)
                return nil
            }
            return .scalar(start..<i)
        }

        private mutating func object(_ wanted: Wanted?, depth: Int) throws(NotJSON) -> Kept? {
            guard depth <= Self.maxDepth else { throw NotJSON() }
            i += 1
            var kept: [String: Kept] = [:]
            let keeps = wanted.map { !$0.members.isEmpty } ?? false
            let descends = keeps && visitor != nil
            skipBlanks()
            if next == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipBlanks()
                    guard next == UInt8(ascii: "\"") else { throw NotJSON() }
                    let nameStart = i
                    let escaped = try string()
                    let nameEnd = i
                    skipBlanks()
                    guard next == UInt8(ascii: ":") else { throw NotJSON() }
                    i += 1
                    skipBlanks()
                    if descends, let wanted {
                        _ = try value(wanted.members[text(nameStart..<nameEnd, escaped: escaped)], depth: depth)
                    } else if keeps, let wanted {
                        let name = text(nameStart..<nameEnd, escaped: escaped)
                        // The last member of a name wins, as in Foundation: one not kept removes an earlier one.
                        kept[name] = try value(wanted.members[name], depth: depth)
                    } else {
                        _ = try value(nil, depth: depth)
                    }
                    skipBlanks()
                    if next == UInt8(ascii: ",") {
                        i += 1
                        skipBlanks()
                        if next == UInt8(ascii: "}") { i += 1; break }   // a trailing comma, taken as Foundation takes it
                    } else if next == UInt8(ascii: "}") {
                        i += 1
                        break
                    } else {
                        throw NotJSON()
                    }
                }
            }
            return wanted == nil || visitor != nil ? nil : .object(kept)
        }

        /// Moves past an array; `each`: what its elements are wanted for.
        private mutating func array(_ each: Wanted?, depth: Int) throws(NotJSON) {
            guard depth <= Self.maxDepth else { throw NotJSON() }
            i += 1
            skipBlanks()
            if next == UInt8(ascii: "]") { i += 1; return }
            while true {
                _ = try value(each, depth: depth)
                skipBlanks()
                if next == UInt8(ascii: ",") {
                    i += 1
                    skipBlanks()
                    if next == UInt8(ascii: "]") { i += 1; return }
                } else if next == UInt8(ascii: "]") {
                    i += 1
                    return
                } else {
                    throw NotJSON()
                }
            }
        }

        /// Moves past a string; whether it holds escapes.
        private mutating func string() throws(NotJSON) -> Bool {
            i += 1
            var escaped = false
            while let b = next {
                switch b {
                case UInt8(ascii: "\""):
                    i += 1
                    return escaped
                case UInt8(ascii: "\\"):
                    escaped = true
                    i += 1
                    guard let e = next else { throw NotJSON() }
                    if e == UInt8(ascii: "u") {
                        guard i + 4 < bytes.count, (1...4).allSatisfy({ Self.isHex(bytes[i + $0]) }) else { throw NotJSON() }
                        i += 5
                    } else {
                        guard "\"\\/bfnrt".utf8.contains(e) else { throw NotJSON() }
                        i += 1
                    }
                case 0..<0x20:
                    throw NotJSON()
                default:
                    i += 1
                }
            }
            throw NotJSON()
        }

        /// A member name's text (`range` holds its quotes; `string` checked its escapes).
        /// A lone surrogate becomes U+FFFD, which no wanted name holds.
        private func text(_ range: Range<Int>, escaped: Bool) -> String {
            let inner = bytes[(range.lowerBound + 1)..<(range.upperBound - 1)]
            guard escaped else { return String(decoding: inner, as: UTF8.self) }
            var units: [UInt16] = []
            var j = inner.startIndex
            while j < inner.endIndex {
                let b = inner[j]
                guard b == UInt8(ascii: "\\") else {
                    // Plain UTF-8 up to the next escape.
                    let run = inner[j...].firstIndex(of: UInt8(ascii: "\\")) ?? inner.endIndex
                    units += String(decoding: inner[j..<run], as: UTF8.self).utf16
                    j = run
                    continue
                }
                let e = inner[j + 1]
                j += 2
                switch e {
                case UInt8(ascii: "b"): units.append(0x08)
                case UInt8(ascii: "f"): units.append(0x0C)
                case UInt8(ascii: "n"): units.append(0x0A)
                case UInt8(ascii: "r"): units.append(0x0D)
                case UInt8(ascii: "t"): units.append(0x09)
                case UInt8(ascii: "u"):
                    units.append(inner[j..<(j + 4)].reduce(0) { $0 << 4 | UInt16(Self.hexValue($1)) })
                    j += 4
                default: units.append(UInt16(e))   // " \ /
                }
            }
            return String(decoding: units, as: UTF16.self)
        }

        private static func hexValue(_ b: UInt8) -> UInt8 { isDigit(b) ? b - UInt8(ascii: "0") : (b | 0x20) - UInt8(ascii: "a") + 10 }

        private mutating func literal(_ word: StaticString) throws(NotJSON) {
            let count = word.utf8CodeUnitCount
            guard i + count <= bytes.count,
                  UnsafeRawBufferPointer(start: word.utf8Start, count: count).elementsEqual(bytes[i..<(i + count)]) else {
                throw NotJSON()
            }
            i += count
        }

        /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        private mutating func number() throws(NotJSON) {
            if next == UInt8(ascii: "-") { i += 1 }
            guard let first = next, Self.isDigit(first) else { throw NotJSON() }
            i += 1
            if first == UInt8(ascii: "0") {
                if let b = next, Self.isDigit(b) { throw NotJSON() }   // a leading zero
            } else {
                skipDigits()
            }
            if next == UInt8(ascii: ".") {
                i += 1
                guard let b = next, Self.isDigit(b) else { throw NotJSON() }
                skipDigits()
            }
            if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
                i += 1
                if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { i += 1 }
                guard let b = next, Self.isDigit(b) else { throw NotJSON() }
                skipDigits()
            }
        }

        private mutating func skipDigits() {
            while let b = next, Self.isDigit(b) { i += 1 }
        }

        static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

        private static func isHex(_ b: UInt8) -> Bool {
            isDigit(b) || (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "f")
        }
    }
}
