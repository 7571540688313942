import CompressNIO
import NIOCore

/// gzip for stored bodies, through zlib (compress-nio): compressed once at store time,
/// decompressed only for clients that do not accept gzip.
enum Gzip {
    static func compress(_ body: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var input = body
        return try input.compress(with: .gzip(), allocator: allocator)
    }

    /// A decompressed body is never larger than this (a stored body that claims more is refused).
    static let maxDecodedLength = 256 << 20

    static func decompress(_ body: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var input = body
        if let length = decodedLength(body), length <= maxDecodedLength {
            var output = allocator.buffer(capacity: max(length, 1))
            if (try? input.decompress(to: &output, with: .gzip())) != nil, output.readableBytes == length { return output }
            input = body   // several members, or a trailer that is wrong: size it as it comes
        }
        return try input.decompress(with: .gzip(), maxSize: maxDecodedLength, allocator: allocator)
    }

    /// The decompressed length a single-member gzip stream records in its trailer
    /// (ISIZE, RFC 1952 §2.3.1): what a HEAD answered without decompressing says.
    static func decodedLength(_ body: ByteBuffer) -> Int? {
        guard body.readableBytes >= 18,
              let size = body.getInteger(at: body.writerIndex - 4, endianness: .little, as: UInt32.self) else { return nil }
        return Int(size)
    }
}
