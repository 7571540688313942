/// Members named twice in one object of a JSON text. JSON parsers keep one of the two
/// without a word (Foundation's decoder, the first; JavaScript, Python and Go, the
/// last): in proxy.json an operator who copied a block and edited the copy, or pasted
/// a second `"upstream"`, found the edit ignored; in a token's claims the proxy and the
/// upstream would read different values. Runs on text that already parsed as JSON: it
/// only has to find names, not check the grammar.
public enum DuplicateMembers {
    /// The path (`routes[1].ttl`) of each member named again in its object.
    public static func paths(in text: [UInt8]) -> [String] {
        var scan = Scan(text: text)
        if text.starts(with: [0xEF, 0xBB, 0xBF]) { scan.i = 3 }   // a UTF-8 byte order mark, which the decoder takes
        scan.value(path: "")
        return scan.found
    }

    private struct Scan {
        let text: [UInt8]
        var i = 0
        var found: [String] = []

        init(text: [UInt8]) { self.text = text }

        mutating func value(path: String) {
            skipBlanks()
            guard i < text.count else { return }
            switch text[i] {
            case UInt8(ascii: "{"): object(path: path)
            case UInt8(ascii: "["): array(path: path)
            case UInt8(ascii: "\""): _ = string()
            default:
                while i < text.count, !",]} \t\r\n".utf8.contains(text[i]) { i += 1 }
            }
        }

        private mutating func object(path: String) {
            i += 1
            var names: Set<String> = []
            while true {
                skipBlanks()
                guard i < text.count, text[i] == UInt8(ascii: "\"") else { break }   // `}`, or a trailing comma's
                let name = string()
                let member = path.isEmpty ? name : "\(path).\(name)"
                if !names.insert(name).inserted { found.append(member) }
                skipBlanks()
                i += 1   // the colon
                value(path: member)
                skipBlanks()
                guard i < text.count, text[i] == UInt8(ascii: ",") else { break }
                i += 1
            }
            skipBlanks()
            i += 1   // the closing brace
        }

        private mutating func array(path: String) {
            i += 1
            var index = 0
            while true {
                skipBlanks()
                guard i < text.count, text[i] != UInt8(ascii: "]") else { break }
                value(path: "\(path)[\(index)]")
                index += 1
                skipBlanks()
                guard i < text.count, text[i] == UInt8(ascii: ",") else { break }
                i += 1
            }
            skipBlanks()
            i += 1   // the closing bracket
        }

        /// Moves past a string; its text, escapes read as JSON reads them.
        private mutating func string() -> String {
            let start = i
            i += 1
            var escaped = false
            while i < text.count, text[i] != UInt8(ascii: "\"") {
                if text[i] == UInt8(ascii: "\\") { escaped = true; i += 1 }
                i += 1
            }
            i += 1
            let quoted = text[start..<min(i, text.count)]
            guard escaped else { return String(decoding: quoted.dropFirst().dropLast(), as: UTF8.self) }
            if case .string(let s)? = JSONValue.parse(quoted) { return s }
            return String(decoding: quoted, as: UTF8.self)
        }

        private mutating func skipBlanks() {
            while i < text.count, text[i] == 0x20 || text[i] == 0x09 || text[i] == 0x0A || text[i] == 0x0D { i += 1 }
        }
    }
}
