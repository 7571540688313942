import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore

/// HTTP/1.1 response heads written straight into ByteBuffers: the proxy frames its
/// own responses so that a hit can be stored bytes plus a few per-request lines.
extension ByteBuffer {
    mutating func writeStatusLine(status: Int, reason: String) {
        writeStaticString("HTTP/1.1 ")
        writeDecimal(status)
        writeStaticString(" ")
        writeFieldText(reason.isEmpty ? HTTPResponseStatus(statusCode: status).reasonPhrase : reason)
        writeStaticString("\r\n")
    }

    mutating func writeHeader(_ name: String, _ value: String) {
        writeString(name)
        writeStaticString(": ")
        writeFieldText(value)
        writeStaticString("\r\n")
    }

    /// A value or reason phrase as the bytes it was read from (`FieldText`): obs-text
    /// passes through unchanged.
    private mutating func writeFieldText(_ text: String) {
        FieldText.withBytes(of: text) { writeBytes($0) }
    }

    mutating func writeHeader(_ name: StaticString, _ value: Int) {
        writeStaticString(name)
        writeStaticString(": ")
        writeDecimal(value)
        writeStaticString("\r\n")
    }

    /// One chunk of a chunked body: size line, data, CRLF.
    mutating func writeChunkHeader(_ size: Int) {
        writeString(String(size, radix: 16))
        writeStaticString("\r\n")
    }
}
