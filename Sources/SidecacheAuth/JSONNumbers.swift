/// Number literals in a token's JSON that its readers take for different values.
enum JSONNumbers {
    /// Whether `text` (which parsed as JSON) holds a number at or past 2^53 written with
    /// a fraction or an exponent. Foundation reads `9007199254740993.0` and
    /// `12345678901234567e1` as exact integers; JavaScript and Python read them as the
    /// nearest Double, another integer.
    static func holdsRoundedInteger(_ text: [UInt8]) -> Bool {
        var i = 0
        while i < text.count {
            switch text[i] {
            case UInt8(ascii: "\""):
                i += 1
                while i < text.count, text[i] != UInt8(ascii: "\"") { i += text[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = i
                var written = false   // a fraction or an exponent
                while i < text.count, isNumberByte(text[i]) {
                    if text[i] == UInt8(ascii: ".") || text[i] | 0x20 == UInt8(ascii: "e") { written = true }
                    i += 1
                }
                if written, let value = Double(String(decoding: text[start..<i], as: UTF8.self)), !(abs(value) < 0x1p53) { return true }
            default:
                i += 1
            }
        }
        return false
    }

    private static func isNumberByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b | 0x20 == UInt8(ascii: "e")
    }
}
