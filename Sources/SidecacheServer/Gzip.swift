import CompressNIO
import NIOCore
import NIOPosix

/// gzip for stored bodies, through zlib (compress-nio): compressed once at store time,
/// decompressed only for clients that do not accept gzip.
enum Gzip {
    /// Deflate streams per thread, reset between bodies: `deflateInit` allocates about
    /// 256 KiB of window and hash tables, too much to pay on every fill. (`unsafe`: each
    /// thread only ever sees its own compressors.)
    nonisolated(unsafe) private static let compressors = ThreadSpecificVariable<ZlibCompressor>()
    /// The stream for bodies up to `smallBody` bytes. `deflateReset` clears the hash table:
    /// 64 KiB at zlib's default memory level, as much work as deflating a 1 KiB body.
    /// This one's table is 8 KiB, and its 16 KiB window still spans the whole body.
    nonisolated(unsafe) private static let smallCompressors = ThreadSpecificVariable<ZlibCompressor>()

    /// zlib level 1, nginx's `gzip_comp_level` default: on JSON it costs a third of level
    /// 6's time from 4 KiB up for bodies 10–13 % larger (BENCHMARKS.md, issue 13), and
    /// the fill is on the client's clock.
    static let configuration = ZlibConfiguration(compressionLevel: 1)
    /// Level 1 with the smaller table: on JSON of 0.6–60 KiB its output is within 1 % of
    /// `configuration`'s (BENCHMARKS.md, issue 13).
    static let smallConfiguration = ZlibConfiguration(windowSize: 14, compressionLevel: 1, memoryLevel: 5)
    static let smallBody = 16 << 10

    static func compress(_ body: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let small = body.readableBytes <= smallBody
        let compressor = try kept(small ? smallCompressors : compressors, reset: { try $0.reset() }) {
            try ZlibCompressor(algorithm: .gzip, configuration: small ? smallConfiguration : configuration)
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
            if let zlib = try? kept(decompressors, reset: { try $0.reset() }, make: { try ZlibDecompressor(algorithm: .gzip) }),
               (try? zlib.inflate(from: &input, to: &output)) != nil, output.readableBytes == length { return output }
            // A trailer that is wrong: size it as it comes. (Not handled on either path: a
            // body of several gzip members, RFC 1952 §2.2, is decoded up to its first end.)
            input = body
        }
        return try input.decompress(with: .gzip(), maxSize: maxDecodedLength, allocator: allocator)
    }

    /// This thread's stream from `streams`, reset for a new body, or a new one kept there.
    private static func kept<Stream: AnyObject>(_ streams: ThreadSpecificVariable<Stream>, reset: (Stream) throws -> Void,
                                                 make: () throws -> Stream) throws -> Stream {
        if let stream = streams.currentValue {
            try reset(stream)
            return stream
        }
        let stream = try make()
        streams.currentValue = stream
        return stream
    }

    /// The decompressed length a single-member gzip stream records in its trailer
    /// (ISIZE, RFC 1952 §2.3.1): what a HEAD answered without decompressing says.
    static func decodedLength(_ body: ByteBuffer) -> Int? {
        guard body.readableBytes >= 18,
              let size = body.getInteger(at: body.writerIndex - 4, endianness: .little, as: UInt32.self) else { return nil }
        return Int(size)
    }
}
