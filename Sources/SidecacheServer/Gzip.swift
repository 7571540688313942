import CompressNIO
import NIOCore

/// gzip for stored bodies, through zlib (compress-nio): compressed once at store time,
/// decompressed only for clients that do not accept gzip.
enum Gzip {
    /// Deflate streams per thread, reset between bodies: `deflateInit` allocates about
    /// 256 KiB of window and hash tables, too much to pay on every fill.
    private static let compressors = ThreadSlot<ZlibCompressor>()
    /// The stream for bodies up to `smallBody` bytes. `deflateReset` clears the hash table:
    /// 64 KiB at zlib's default memory level, as much work as deflating a 1 KiB body.
    /// This one's table is 8 KiB, and its 16 KiB window still spans the whole body.
    private static let smallCompressors = ThreadSlot<ZlibCompressor>()

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
        let compressor = try (small ? smallCompressors : compressors).value {
            try ZlibCompressor(algorithm: .gzip, configuration: small ? smallConfiguration : configuration)
        }
        try compressor.reset()
        var input = body
        var output = allocator.buffer(capacity: compressor.maxSize(from: body))
        try compressor.deflate(from: &input, to: &output, flush: .finish)
        return output
    }

    /// A decompressed body is never larger than this (a stored body that claims more is refused).
    static let maxDecodedLength = 256 << 20

    /// One inflate stream per thread, reset between members, for the same reason: a hit
    /// from Redis for a client without gzip decompresses on every request, and
    /// `inflateInit` allocates its state and 32 KiB window each time.
    private static let decompressors = ThreadSlot<ZlibDecompressor>()

    /// Every member of `body`, decoded into one buffer. RFC 1952 §2.2: a gzip body is a
    /// series of members (an upstream may concatenate pieces compressed apart), and the
    /// first alone would be a truncated answer whose tags are missing. Throws on corrupt
    /// data, a member cut short, bytes after the last member, or a decoded form longer
    /// than `limit` (a route's `maxBodySize`: a small body that inflates without bound
    /// must not be buffered whole for every client without gzip).
    static func decompress(_ body: ByteBuffer, allocator: ByteBufferAllocator, limit: Int = maxDecodedLength) throws -> ByteBuffer {
        let limit = min(limit, maxDecodedLength)
        let zlib = try decompressors.value { try ZlibDecompressor(algorithm: .gzip) }
        try zlib.reset()
        var input = body
        // The last trailer's length is the whole length of a body of one member (every
        // body this proxy compresses): then the output is allocated once. Deflate packs
        // at most 1 032 bytes into one, so a trailer claiming more is not believed.
        let claimed = min(decodedLength(body) ?? 0, body.readableBytes * 1032, limit)
        var output = allocator.buffer(capacity: max(claimed, 1))
        while true {
            try inflateMember(zlib, from: &input, to: &output, limit: limit)
            if input.readableBytes == 0 { return output }
            try zlib.reset()
        }
    }

    /// The decoded form is longer than the caller's limit.
    struct TooLarge: Error {}

    /// Inflates one member from `input` into `output`, growing it as needed up to `limit`.
    private static func inflateMember(_ zlib: ZlibDecompressor, from input: inout ByteBuffer, to output: inout ByteBuffer,
                                      limit: Int) throws {
        while true {
            do {
                try zlib.inflate(from: &input, to: &output)
                guard output.readableBytes <= limit else { throw TooLarge() }
                if input.readableBytes > 0 { return }   // the member ended where the next begins
                // Every byte taken: the member ended with them, or it is cut short. Once
                // more tells them apart: a finished stream answers its end again, a cut
                // one makes no progress and throws.
                try zlib.inflate(from: &input, to: &output)
                return
            } catch let error as CompressNIOError where error == .bufferOverflow {
                guard output.readableBytes < limit else { throw TooLarge() }
                output.reserveCapacity(minimumWritableBytes: min(max(output.readableBytes, 4096), limit - output.readableBytes))
            }
        }
    }

    /// The decompressed length the last member records in its trailer (ISIZE, RFC 1952
    /// §2.3.1): the whole length of a body of one member.
    private static func decodedLength(_ body: ByteBuffer) -> Int? {
        guard body.readableBytes >= 18,
              let size = body.getInteger(at: body.writerIndex - 4, endianness: .little, as: UInt32.self) else { return nil }
        return Int(size)
    }
}
