import SidecacheCore
import Testing

/// JSON from outside (request bodies purge templates read, answers tags are taken
/// from) parsed to the values templates and tags see.
@Suite("JSON parsed from outside")
struct JSONParseTests {
    @Test func eachTypeIsReadAsItself() throws {
        let value = try #require(JSONValue.parse(Array(#"{"t": true, "f": false, "one": 1, "zero": 0, "x": 1.5, "s": "1", "n": null, "a": [true, 1, "a", {"k": []}]}"#.utf8)))
        #expect(value == .object(["t": .bool(true), "f": .bool(false), "one": .integer(1), "zero": .integer(0), "x": .number(1.5),
                                  "s": .string("1"), "n": .null,
                                  "a": .array([.bool(true), .integer(1), .string("a"), .object(["k": .array([])])])]))
        #expect(JSONValue.parse(Array("5".utf8)) == .integer(5) && JSONValue.parse(Array(#""x""#.utf8)) == .string("x"))
        #expect(JSONValue.parse(Array("true".utf8)) == .bool(true))
    }

    @Test(arguments: ["", "{", "[1", "{'a': 1}", "nope", "{\"a\": 1} x", "\u{0}"])
    func notJSONIsNil(text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == nil, "\(text)")
    }

    @Test func aLargeArrayOfEmptyObjectsParses() throws {
        let text = "[" + Array(repeating: "{}", count: 100_000).joined(separator: ",") + "]"
        guard case .array(let items)? = JSONValue.parse(Array(text.utf8)) else { Issue.record("an array"); return }
        #expect(items.count == 100_000 && items.allSatisfy { $0 == .object([:]) })
    }
}
