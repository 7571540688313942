import NIOCore
import NIOHTTP1

/// HTTP/1.1 response heads written straight into ByteBuffers: the proxy frames its
/// own responses so that a hit can be stored bytes plus a few per-request lines.
extension ByteBuffer {
    mutating func writeStatusLine(status: Int, reason: String) {
        writeStaticString("HTTP/1.1 ")
        writeDecimal(status)
        writeStaticString(" ")
        writeString(reason.isEmpty ? HTTPResponseStatus(statusCode: status).reasonPhrase : reason)
        writeStaticString("\r\n")
    }

    mutating func writeHeader(_ name: String, _ value: String) {
        writeString(name)
        writeStaticString(": ")
        writeString(value)
        writeStaticString("\r\n")
    }

    mutating func writeHeader(_ name: StaticString, _ value: Int) {
        writeStaticString(name)
        writeStaticString(": ")
        writeDecimal(value)
        writeStaticString("\r\n")
    }

    /// A decimal integer without going through String.
    mutating func writeDecimal(_ value: some BinaryInteger) {
        var v = Int64(value)
        if v < 0 {
            writeInteger(UInt8(ascii: "-"))
            v = -v
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                count += 1
            } while v > 0
            _ = writeBytes(UnsafeRawBufferPointer(rebasing: raw[(20 - count)...]))
        }
    }

    /// One chunk of a chunked body: size line, data, CRLF.
    mutating func writeChunkHeader(_ size: Int) {
        writeString(String(size, radix: 16))
        writeStaticString("\r\n")
    }
}
