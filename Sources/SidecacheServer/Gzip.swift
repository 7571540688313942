import CompressNIO
import NIOCore
import NIOPosix

/// gzip for stored bodies, through zlib (compress-nio): compressed once at store time,
/// decompressed only for clients that do not accept gzip.
enum Gzip {
    /// One deflate stream per thread, reset between bodies: `deflateInit` allocates about
    /// 256 KiB of window and hash tables, too much to pay on every fill. (`unsafe`: each
    /// thread only ever sees its own compressor.)
    nonisolated(unsafe) private static let compressors = ThreadSpecificVariable<ZlibCompressor>()

    static func compress(_ body: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let compressor: ZlibCompressor
        if let kept = compressors.currentValue {
            compressor = kept
            try compressor.reset()
        } else {
            compressor = try ZlibCompressor(algorithm: .gzip)
            compressors.currentValue = compressor
        }
        var input = body
        var output = allocator.buffer(capacity: compressor.maxSize(from: body))
        try compressor.deflate(from: &input, to: &output, flush: .finish)
        return output
    }

    /// A decompressed body is never larger than this (a stored body that claims more is refused).
    static let maxDecodedLength = 256 << 20

    /// One inflate stream per thread, reset between bodies, for the same reason: a hit from
    /// Redis for a client without gzip decompresses on every request, and `inflateInit`
    /// allocates its state and 32 KiB window each time.
    nonisolated(unsafe) private static let decompressors = ThreadSpecificVariable<ZlibDecompressor>()

    static func decompress(_ body: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var input = body
        if let length = decodedLength(body), length <= maxDecodedLength {
            var output = allocator.buffer(capacity: max(length, 1))
            if (try? decompressor().inflate(from: &input, to: &output)) != nil, output.readableBytes == length { return output }
            // A trailer that is wrong: size it as it comes. (Not handled on either path: a
            // body of several gzip members, RFC 1952 §2.2, is decoded up to its first end.)
            input = body
        }
        return try input.decompress(with: .gzip(), maxSize: maxDecodedLength, allocator: allocator)
    }

    private static func decompressor() throws -> ZlibDecompressor {
        if let kept = decompressors.currentValue {
            try kept.reset()
            return kept
        }
        let fresh = try ZlibDecompressor(algorithm: .gzip)
        decompressors.currentValue = fresh
        return fresh
    }

    /// The decompressed length a single-member gzip stream records in its trailer
    /// (ISIZE, RFC 1952 §2.3.1): what a HEAD answered without decompressing says.
    static func decodedLength(_ body: ByteBuffer) -> Int? {
        guard body.readableBytes >= 18,
              let size = body.getInteger(at: body.writerIndex - 4, endianness: .little, as: UInt32.self) else { return nil }
        return Int(size)
    }
}
