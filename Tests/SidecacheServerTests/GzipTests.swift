import CompressNIO
import NIOCore
import Testing
@testable import SidecacheServer

/// Stored bodies are gzipped and gunzipped with one zlib stream per thread, reset
/// between bodies: what one body leaves behind must never reach the next.
@Suite struct GzipTests {
    private let allocator = ByteBufferAllocator()

    private func body(_ seed: Int, count: Int = 3000) -> ByteBuffer {
        ByteBuffer(string: (0..<count).map { String(UnicodeScalar(UInt8(97 + ($0 * seed) % 26))) }.joined())
    }

    @Test func bodiesRoundTripOneAfterAnotherOnOneThread() throws {
        for seed in 1...5 {
            let original = body(seed)
            let packed = try Gzip.compress(original, allocator: allocator)
            #expect(try Gzip.decompress(packed, allocator: allocator) == original)
        }
    }

    @Test func aCorruptBodyLeavesTheNextOneWhole() throws {
        let good = try Gzip.compress(body(3), allocator: allocator)
        var corrupt = good
        corrupt.setInteger(UInt8(0xFF), at: corrupt.readerIndex + 12)   // inside the deflate data
        corrupt.setInteger(UInt8(0x00), at: corrupt.readerIndex + 20)
        #expect(throws: (any Error).self) { try Gzip.decompress(corrupt, allocator: allocator) }
        // Stopped mid-stream: half a body, then a whole one.
        var half = good
        half.moveWriterIndex(to: half.readerIndex + half.readableBytes / 2)
        _ = try? Gzip.decompress(half, allocator: allocator)
        #expect(try Gzip.decompress(good, allocator: allocator) == body(3))
    }
}
