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

    /// `name: value` and its CRLF in one write: four (name, separator, value, CRLF) cost
    /// a capacity check and a call each, some 600 instructions a line on every
    /// forwarded answer's head.
    mutating func writeHeader(_ name: String, _ value: String) {
        var name = name
        name.withUTF8 { name in
            FieldText.withBytes(of: value) { value in
                writeWithUnsafeMutableBytes(minimumWritableBytes: name.count + value.count + 4) { out in
                    UnsafeMutableRawBufferPointer(rebasing: out[..<name.count]).copyMemory(from: UnsafeRawBufferPointer(name))
                    out[name.count] = UInt8(ascii: ":")
                    out[name.count + 1] = UInt8(ascii: " ")
                    let end = name.count + 2 + value.count
                    UnsafeMutableRawBufferPointer(rebasing: out[(name.count + 2)..<end]).copyMemory(from: value)
                    out[end] = UInt8(ascii: "\r")
                    out[end + 1] = UInt8(ascii: "\n")
                    return end + 2
                }
            }
        }
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
