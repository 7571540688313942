extension JSONMembers {
    /// A JSON text in UTF-16 or UTF-32, told as Foundation tells it: by its byte order
    /// mark, or by where the zero bytes of its first (ASCII) character fall.
    enum Encoding {
        case utf16(bigEndian: Bool, skip: Int)
        case utf32(bigEndian: Bool, skip: Int)

        init?(detecting b: UnsafeRawBufferPointer) {
            guard b.count >= 2 else { return nil }
            let four = b.count >= 4 ? (b[0], b[1], b[2], b[3]) : (b[0], b[1], 1, 1)
            switch four {
            case (0, 0, 0xFE, 0xFF): self = .utf32(bigEndian: true, skip: 4)
            case (0xFF, 0xFE, 0, 0): self = .utf32(bigEndian: false, skip: 4)
            case (0xFE, 0xFF, _, _): self = .utf16(bigEndian: true, skip: 2)
            case (0xFF, 0xFE, _, _): self = .utf16(bigEndian: false, skip: 2)
            case (0, 0, 0, _): self = .utf32(bigEndian: true, skip: 0)
            case (_, 0, 0, 0): self = .utf32(bigEndian: false, skip: 0)
            case (0, _, _, _): self = .utf16(bigEndian: true, skip: 0)
            case (_, 0, _, _): self = .utf16(bigEndian: false, skip: 0)
            default: return nil
            }
        }

        /// The text in UTF-8; what does not decode becomes U+FFFD.
        func utf8(_ b: UnsafeRawBufferPointer) -> [UInt8] {
            switch self {
            case .utf16(let big, let skip):
                let (high, low) = big ? (0, 1) : (1, 0)
                let units = stride(from: skip, to: b.count - 1, by: 2).map { (i: Int) -> UInt16 in
                    UInt16(b[i + high]) << 8 | UInt16(b[i + low])
                }
                return Array(String(decoding: units, as: UTF16.self).utf8)
            case .utf32(let big, let skip):
                let scalars = stride(from: skip, to: b.count - 3, by: 4).map { (i: Int) -> UInt32 in
                    var value: UInt32 = 0
                    for k in 0..<4 { value = value << 8 | UInt32(b[big ? i + k : i + 3 - k]) }
                    return value
                }
                var text = String.UnicodeScalarView()
                for value in scalars { text.append(Unicode.Scalar(value) ?? "\u{FFFD}") }
                return Array(String(text).utf8)
            }
        }
    }
}
