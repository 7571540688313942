import Glibc

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

    /// A scalar that stands for a byte from 0x80 up.
    private static func isByte(_ scalar: Unicode.Scalar) -> Bool { (base + 0x80...base + 0xFF).contains(scalar.value) }

    public static func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        // ASCII, nearly every value: decoded as it always was, one pass to tell.
        var ascii = true
        for byte in bytes where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii { return String(decoding: bytes, as: UTF8.self) }
        if !bytes.contains(where: { $0 >= 0xF4 }), let text = String(validating: bytes, as: UTF8.self) { return text }
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(byte < 0x80 ? UInt32(byte) : base + UInt32(byte))!) }
        return String(scalars)
    }

    /// `text` with each byte held byte for byte read as ISO-8859-1, the charset obs-text
    /// came from: a `Surrogate-Key: caf\xE9` tags `café`, which an admin purge or a rule
    /// (UTF-8, as JSON and paths are) can name.
    public static func latin1(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isByte) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(isByte(scalar) ? Unicode.Scalar(UInt8(scalar.value - base)) : scalar)
        }
        return String(scalars)
    }

    /// Calls `body` with the bytes `text` was read from (`decode`): its UTF-8, unless it
    /// holds byte-for-byte scalars, which only a value read from such bytes does. Not
    /// generic: across modules a generic one is not specialized, and every header line
    /// of every forwarded answer paid for `Optional`'s generic metadata.
    public static func withBytes(of text: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        var text = text
        let plain = text.withUTF8 { utf8 in
            // memchr: every field value of every answer passes here (a byte loop was 110
            // instructions a value).
            guard utf8.isEmpty || memchr(utf8.baseAddress!, 0xF4, utf8.count) == nil else { return false }
            body(UnsafeRawBufferPointer(utf8))
            return true
        }
        if plain { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if isByte(scalar) {
                bytes.append(UInt8(scalar.value - base))
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        bytes.withUnsafeBytes(body)
    }
}
