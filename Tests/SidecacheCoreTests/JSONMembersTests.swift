import Testing
@testable import SidecacheCore
import SidecacheTestSupport

/// The scan that reads a large body's purge-template members must find what parsing the
/// whole document finds (`JSONValue.parse`, Foundation), or a purge goes to the wrong
/// path or a tag target is skipped. Checked side by side, the scan forced on with
/// `wholeUpTo: 0`.
@Suite("JSON members read without building the document")
struct JSONMembersTests {
    static let paths: [[String]] = [["id"], ["a", "b"], ["a"], ["u", "id"], ["é"], ["x"]]

    static func scanned(_ text: String, _ paths: [[String]] = paths, wholeUpTo: Int = 0) -> JSONValue? {
        Array(text.utf8).withUnsafeBytes { JSONMembers.pruned($0, to: paths, wholeUpTo: wholeUpTo) }
    }

    static func sameAsWhole(_ text: String) -> [String] {
        let whole = JSONValue.parse(Array(text.utf8))
        let pruned = scanned(text)
        var differences: [String] = []
        if (whole == nil) != (pruned == nil) {
            differences.append("\(text): JSON to one, not to the other (whole \(whole == nil ? "nil" : "ok"))")
        }
        for path in paths {
            let expected = whole?.value(at: path)?.scalarText
            let found = pruned?.value(at: path)?.scalarText
            if expected != found { differences.append("\(text) \(path): \(found ?? "nil") where the whole parse reads \(expected ?? "nil")") }
        }
        return differences
    }

    @Test(arguments: [
        #"{"id":7}"#, #"{"id":"x"}"#, #"{"id":1.5}"#, #"{"id":1e2}"#, #"{"id":1E+2}"#, #"{"id":-0}"#, #"{"id":true}"#,
        #"{"id":false}"#, #"{"id":null}"#, #"{"id":[1]}"#, #"{"id":{"b":1}}"#, #"{"id":123456789012345678901234567890}"#,
        #"{"a":{"b":"deep"}}"#, #"{"a":{"b":1},"a":{"c":2}}"#, #"{"a":"flat","a":{"b":3}}"#, #"{"id":1,"id":2}"#,
        #"{"id":1,"id":[2]}"#, #"{"id":[2],"id":1}"#, #"{"i\u0064":5}"#, #"{"\u0069\u0064":3}"#, #"{"\ud83d\ude00":1,"id":2}"#, #"{"a\/b":1,"\u0061":{"\u0062":"ab"}}"#, #"{"e\u0301":1}"#, #"{"\u00e9":2}"#,
        #"{"u":{"id":"x\"y\\z\/\n\u00e9\ud83d\ude00"}}"#, #"{"id":1,}"#, #"{"a":[1,],"id":2,}"#,
        " \t\n{ \"id\" : 7 , \"a\" : { \"b\" : 8 } }\r\n", #"{"id":1"#, #"{"id":01}"#, #"{"id":1}x"#, #"{id:1}"#,
        #"{"id":"\x"}"#, #"{"id":"\u12G4"}"#, "{\"id\":\"a\u{1}\"}", #"{"id":.5}"#, #"{"id":1.}"#, #"{"id":-}"#,
        #"{"id":1e}"#, #"{"id":+1}"#, #"{"id":tru}"#, #"{"id":nul}"#, #"{,}"#, #"{"id":1,,"a":2}"#, #"[,1]"#, #"[1,,2]"#,
        #"{"id" 1}"#, #"{"id":1 "a":2}"#, #"{"id":1e-400}"#, "5", #""s""#, "[]", "{}", "", " ", "null",
        #"[{"id":1}]"#, #"{"x":[{"id":9}],"id":{"id":3}}"#, "{\"id\":\"\u{7f}\"}", #"{"a":{"b":{"c":1}}}"#,
    ])
    func findsWhatTheWholeParseFinds(_ text: String) {
        #expect(Self.sameAsWhole(text) == [])
    }

    @Test func nestingPast512LevelsIsNotJSONToEither() {
        for depth in [511, 512, 513] {
            let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            #expect(Self.sameAsWhole(text) == [], "depth \(depth)")
            let objects = String(repeating: #"{"x":"#, count: depth) + "1" + String(repeating: "}", count: depth)
            #expect(Self.sameAsWhole(objects) == [], "objects, depth \(depth)")
        }
        #expect(Self.scanned(String(repeating: "[", count: 100_000)) == nil, "no recursion without bound")
    }

    /// Seeded documents of nested objects, arrays and scalars, with repeated and escaped
    /// member names: the same inputs every run.
    @Test func findsWhatTheWholeParseFindsInGeneratedDocuments() {
        var rng = SplitMix(seed: 0x5eed)
        var differences: [String] = []
        for _ in 0..<400 {
            let text = Self.document(depth: 0, &rng)
            differences += Self.sameAsWhole(text)
        }
        #expect(differences.isEmpty, "\(differences.prefix(5))")
    }

    /// Where Foundation refuses the whole document for something outside the kept
    /// members, the scan still reads them: a value found purges precisely, where a
    /// missing one would widen a path or skip a tag.
    @Test func outsideTheKeptMembersTheScanIsLenient() {
        for text in [#"{"x":"\ud800","id":1}"#, #"{"x":1e400,"id":1}"#] {
            #expect(JSONValue.parse(Array(text.utf8)) == nil)
            #expect(Self.scanned(text, [["id"]])?.value(at: ["id"])?.scalarText == "1", "\(text)")
        }
        // A wanted scalar the whole parse cannot read is missing; the rest is still read.
        for text in [#"{"id":"\ud800","x":"y"}"#, #"{"id":1e400,"x":"y"}"#] {
            #expect(JSONValue.parse(Array(text.utf8)) == nil)
            let found = Self.scanned(text, [["id"], ["x"]])
            #expect(found?.value(at: ["id"])?.scalarText == nil && found?.value(at: ["x"])?.scalarText == "y", "\(text)")
        }
        let invalidUTF8: [UInt8] = Array(#"{"x":""#.utf8) + [0xFF] + Array(#"","id":1}"#.utf8)
        #expect(invalidUTF8.withUnsafeBytes { JSONMembers.pruned($0, to: [["id"]], wholeUpTo: 0) }?.value(at: ["id"])?.scalarText == "1")
    }

    /// Foundation reads UTF-16 and UTF-32 too: a member it finds there must be found, or
    /// a tag target is skipped for an upstream that took the body.
    @Test func textInUTF16AndUTF32IsReadAsFoundationReadsIt() {
        let texts = [#"{"id":7,"a":{"b":"\u00e9t\u00e9 😀"}}"#, #"{"é":"x","u":{"id":[1]},"id":"😀"}"#, #"[{"id":1}]"#, #"{"id":1"#]
        for text in texts {
            let scalars = Array(text.unicodeScalars)
            var encodings: [(String, [UInt8])] = []
            for big in [true, false] {
                for bom in [true, false] {
                    let units = (bom ? [UInt16(0xFEFF)] : []) + Array(text.utf16)
                    encodings.append(("UTF-16 \(big ? "BE" : "LE")\(bom ? " BOM" : "")",
                                      units.flatMap { big ? [UInt8($0 >> 8), UInt8($0 & 0xFF)] : [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))
                    let values = (bom ? [UInt32(0xFEFF)] : []) + scalars.map(\.value)
                    encodings.append(("UTF-32 \(big ? "BE" : "LE")\(bom ? " BOM" : "")", values.flatMap { v in
                        (0..<4).map { UInt8(truncatingIfNeeded: v >> (big ? 24 - 8 * $0 : 8 * $0)) }
                    }))
                }
            }
            for (name, bytes) in encodings {
                let whole = JSONValue.parse(bytes)
                let scanned = bytes.withUnsafeBytes { JSONMembers.pruned($0, to: Self.paths, wholeUpTo: 0) }
                #expect((whole == nil) == (scanned == nil), "\(name) \(text)")
                for path in Self.paths {
                    #expect(whole?.value(at: path)?.scalarText == scanned?.value(at: path)?.scalarText, "\(name) \(text) \(path)")
                }
            }
        }
    }

    /// A large body is scanned (past `wholeUpTo`), small ones parsed whole.
    @Test func aLargeBodysMembersAreFound() {
        let filler = "[" + Array(repeating: "0", count: 1 << 20).joined(separator: ",") + "]"
        let text = #"{"a":{"b":"first","big":"# + filler + #"},"u":{"id":42},"x":"# + filler + "}"
        #expect(text.utf8.count > 64 << 10)
        let found = Self.scanned(text, wholeUpTo: 64 << 10)
        #expect(found?.value(at: ["a", "b"])?.scalarText == "first")
        #expect(found?.value(at: ["u", "id"])?.scalarText == "42")
        #expect(found?.value(at: ["x"])?.scalarText == nil)
        #expect(Self.scanned(#"{"id":1}"#, wholeUpTo: 64 << 10)?.value(at: ["id"])?.scalarText == "1")
    }

    // MARK: Generated documents

    static let names = [#""id""#, #""a""#, #""b""#, #""u""#, #""x""#, #""\u0069d""#, #""\u00e9""#, #""e\u0301""#, #""other""#]
    static let scalars = ["1", "-2.5e3", "0", "true", "false", "null", #""s""#, #""a\"b""#, #""\u00e9""#, "12345678901234567890"]
    static let blanks = ["", " ", "\n", "\t "]

    static func document(depth: Int, _ rng: inout SplitMix) -> String {
        let blank = { (rng: inout SplitMix) in blanks.randomElement(using: &rng)! }
        switch depth < 4 ? Int.random(in: 0..<10, using: &rng) : 9 {
        case 0..<5:
            var members: [String] = []
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                members.append(names.randomElement(using: &rng)! + blank(&rng) + ":" + blank(&rng) + document(depth: depth + 1, &rng))
            }
            let comma = !members.isEmpty && Int.random(in: 0..<8, using: &rng) == 0 ? "," : ""
            return "{" + blank(&rng) + members.joined(separator: "," + blank(&rng)) + comma + "}"
        case 5..<7:
            let items = (0..<Int.random(in: 0...3, using: &rng)).map { _ in document(depth: depth + 1, &rng) }
            return "[" + items.joined(separator: ",") + blank(&rng) + "]"
        default:
            return scalars.randomElement(using: &rng)!
        }
    }
}
