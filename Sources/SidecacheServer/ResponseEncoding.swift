import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore

/// HTTP/1.1 response heads written straight into ByteBuffers: the proxy frames its
/// own responses so that a hit can be stored bytes plus a few per-request lines.
extension ByteBuffer {
    /// In one write (every forwarded answer and every fill writes one): five cost some
    /// 1 000 instructions.
    mutating func writeStatusLine(status: Int, reason: String) {
        FieldText.withBytes(of: reason.isEmpty ? HTTPResponseStatus(statusCode: status).reasonPhrase : reason) { reason in
            writeAssembled(room: 32 + reason.count) { out in
                out.append("HTTP/1.1 ")
                out.append(decimal: status)
                out.append(" ")
                out.append(reason)
                out.append("\r\n")
            }
        }
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

    mutating func writeHeader(_ name: StaticString, _ value: Int) {
        writeAssembled(room: name.utf8CodeUnitCount + 4 + ByteBuffer.maxDecimalDigits) { out in
            out.append(name)
            out.append(": ")
            out.append(decimal: value)
            out.append("\r\n")
        }
    }

    /// Writes what `assemble` appends, in one write of at most `room` bytes: the lines a
    /// hit adds to its stored head, a status line. Each ByteBuffer write pays a capacity
    /// and a uniqueness check, some 140 instructions a piece, and a hit wrote nine.
    mutating func writeAssembled(room: Int, _ assemble: (inout LineAssembler) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
            var lines = LineAssembler(out: UnsafeMutableRawBufferPointer(rebasing: out[..<room]))
            assemble(&lines)
            return lines.count
        }
    }

    /// One chunk of a chunked body: size line, data, CRLF.
    mutating func writeChunkHeader(_ size: Int) {
        writeString(String(size, radix: 16))
        writeStaticString("\r\n")
    }
}

/// Appends text and decimals to memory reserved for them (`ByteBuffer.writeAssembled`).
/// Every append is bounded by the reservation: too small a `room` stops the process
/// rather than write past it.
struct LineAssembler {
    private let out: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    fileprivate init(out: UnsafeMutableRawBufferPointer) {
        self.out = out
    }

    mutating func append(_ text: StaticString) {
        let length = text.utf8CodeUnitCount
        precondition(count + length <= out.count, "lines outgrew their room")
        (out.baseAddress! + count).copyMemory(from: text.utf8Start, byteCount: length)
        count += length
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(count + bytes.count <= out.count, "lines outgrew their room")
        if let base = bytes.baseAddress { (out.baseAddress! + count).copyMemory(from: base, byteCount: bytes.count) }
        count += bytes.count
    }

    mutating func append(decimal value: some BinaryInteger) {
        precondition(count + ByteBuffer.maxDecimalDigits <= out.count, "lines outgrew their room")
        count += ByteBuffer.putDecimal(Int64(value), into: out, at: count)
    }
}
