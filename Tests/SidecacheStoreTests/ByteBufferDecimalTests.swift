import NIOCore
import Testing
@testable import SidecacheStore

/// Decimals written without a String, as `String(_:)` spells them: response heads and
/// RESP framing depend on it.
@Suite struct ByteBufferDecimalTests {
    @Test(arguments: [Int64(0), 7, 9, 10, 99, 100, 12_345, -1, -10, .max, .min])
    func decimalsAreSpelledAsStringSpellsThem(value: Int64) {
        var buffer = ByteBuffer(string: "x")
        buffer.writeDecimal(value)
        buffer.writeDecimal(Int(value / 2))
        #expect(String(buffer: buffer) == "x\(value)\(value / 2)")
    }
}
