/// Field values and reason phrases as the proxy holds them (`String`) and as they travel
/// (bytes). RFC 9110 §5.5 lets a value carry obs-text (0x80–0xFF), which a recipient
/// treats as opaque bytes; read as UTF-8, a Latin-1 `filename="r\xE9sum\xE9.pdf"` became
/// U+FFFD and reached the client changed, stored so for every hit.
///
/// A value that is valid UTF-8 is read as such. Any other is read byte for byte: ASCII
/// as itself, each byte from 0x80 up as a private-use scalar (U+10FF80–U+10FFFF) that
/// `withBytes` turns back into that byte. A value that could hold such a scalar (a byte
/// from 0xF4 up) is read byte for byte too, so every value goes out as it came in.
public enum FieldText {
    private static let base: UInt32 = 0x10FF00

    public static func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        if !bytes.contains(where: { $0 >= 0xF4 }), let text = String(validating: bytes, as: UTF8.self) { return text }
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(byte < 0x80 ? UInt32(byte) : base + UInt32(byte))!) }
        return String(scalars)
    }

    public static func decode(_ bytes: some Collection<UInt8>) -> String {
        let decoded = bytes.withContiguousStorageIfAvailable { decode(UnsafeRawBufferPointer($0)) }
        return decoded ?? Array(bytes).withUnsafeBytes { decode($0) }
    }

    /// Calls `body` with the bytes `text` was read from (`decode`): its UTF-8, unless it
    /// holds byte-for-byte scalars, which only a value read from such bytes does.
    public static func withBytes<Result>(of text: String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var text = text
        if text.withUTF8({ !$0.contains(0xF4) }) { return text.withUTF8 { body(UnsafeRawBufferPointer($0)) } }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.value >= base + 0x80 && scalar.value <= base + 0xFF {
                bytes.append(UInt8(scalar.value - base))
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        return bytes.withUnsafeBytes(body)
    }
}
