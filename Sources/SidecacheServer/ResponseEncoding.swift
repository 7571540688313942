import NIOCore
import NIOHTTP1
import SidecacheStore

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

    /// One chunk of a chunked body: size line, data, CRLF.
    mutating func writeChunkHeader(_ size: Int) {
        writeString(String(size, radix: 16))
        writeStaticString("\r\n")
    }
}
