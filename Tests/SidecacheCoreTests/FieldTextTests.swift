import Testing
@testable import SidecacheCore

/// RFC 9110 §5.5: obs-text in a field value is opaque bytes, passed on as received.
@Suite struct FieldTextTests {
    static func roundTrip(_ bytes: [UInt8]) -> [UInt8] {
        let text = bytes.withUnsafeBytes { FieldText.decode($0) }
        var out: [UInt8] = []
        FieldText.withBytes(of: text) { out = Array($0) }
        return out
    }

    @Test(arguments: [
        Array("application/json".utf8),
        Array("café".utf8),                                  // valid UTF-8: read as such
        [0x63, 0x61, 0x66, 0xE9],                            // Latin-1 "café"
        Array(#"attachment; filename="r"#.utf8) + [0xE9, 0x73, 0x75, 0x6D, 0xE9] + Array(#".pdf""#.utf8),
        [0xF4, 0x8F, 0xBF, 0xA9],                            // the UTF-8 of a scalar the byte-for-byte form uses
        [0xC3],                                              // a sequence cut short
        Array(0x20...0xFF),
    ] as [[UInt8]])
    func valuesGoOutAsTheyCameIn(bytes: [UInt8]) {
        #expect(Self.roundTrip(bytes) == bytes)
    }

    @Test func validUTF8IsReadAsText() {
        #expect(Array("café".utf8).withUnsafeBytes { FieldText.decode($0) } == "café")
        let latin1 = ([0x63, 0x61, 0x66, 0xE9] as [UInt8]).withUnsafeBytes { FieldText.decode($0) }
        #expect(latin1.hasPrefix("caf") && latin1 != "caf\u{FFFD}", "held byte for byte, not replaced")
    }
}
