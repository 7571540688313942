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

    /// Bodies up to `Gzip.smallBody` go through the thread's small-table stream, larger
    /// ones through the default one: alternating sizes across the boundary, each body
    /// must come back whole and as small as the default stream makes it, give or take 2 %.
    @Test func bodiesOnEitherSideOfTheSmallStreamsLimitRoundTrip() throws {
        let reference = try ZlibCompressor(algorithm: .gzip, configuration: Gzip.configuration)
        for count in [1024, Gzip.smallBody, Gzip.smallBody + 1, 700, 60_000, Gzip.smallBody - 1] {
            let original = body(count % 7 + 2, count: count)
            let packed = try Gzip.compress(original, allocator: allocator)
            #expect(try Gzip.decompress(packed, allocator: allocator) == original, "\(count) bytes")
            try reference.reset()
            var input = original
            var expected = allocator.buffer(capacity: reference.maxSize(from: original))
            try reference.deflate(from: &input, to: &expected, flush: .finish)
            #expect(Double(packed.readableBytes) <= Double(expected.readableBytes) * 1.02 + 8,
                    "\(count) bytes: \(packed.readableBytes) against \(expected.readableBytes)")
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

    /// RFC 1952 §2.2: a gzip body is a series of members, and its decoded form is all of
    /// them in order. The last member's trailer says only its own length, so the output
    /// grows past it; an empty member adds nothing.
    @Test func aBodyOfSeveralMembersIsDecodedWhole() throws {
        let parts = [body(2, count: 100), body(3, count: 40_000), ByteBuffer(), body(5, count: 7)]
        var members = ByteBuffer()
        for part in parts { members.writeImmutableBuffer(try Gzip.compress(part, allocator: allocator)) }
        let whole = parts.reduce(into: ByteBuffer()) { $0.writeImmutableBuffer($1) }
        #expect(try Gzip.decompress(members, allocator: allocator) == whole)
        #expect(try Gzip.decompress(try Gzip.compress(body(4), allocator: allocator), allocator: allocator) == body(4),
                "the next body on this thread starts clean")
    }

    /// Whatever is not a whole member is refused, as a corrupt body is: bytes after the
    /// last member, a member cut short, a cut inside the second member.
    @Test func aBodyThatIsNotWholeMembersIsRefused() throws {
        let one = try Gzip.compress(body(6), allocator: allocator)
        var trailing = one
        trailing.writeBytes([0, 0, 0, 0])
        var cut = one
        cut.moveWriterIndex(to: cut.writerIndex - 3)   // inside the trailer
        var secondCut = one
        secondCut.writeImmutableBuffer(one.getSlice(at: one.readerIndex, length: one.readableBytes / 2)!)
        for (what, bad) in [("trailing bytes", trailing), ("a cut trailer", cut), ("a cut second member", secondCut)] {
            #expect(throws: (any Error).self, "\(what)") { try Gzip.decompress(bad, allocator: allocator) }
        }
        #expect(try Gzip.decompress(one, allocator: allocator) == body(6))
    }

    /// A decoded form longer than the caller's limit is refused, however small the gzip
    /// (a megabyte of zeros is under 8 KiB), and whether its trailer tells or not.
    @Test func aDecodedFormPastTheLimitIsRefused() throws {
        let zeros = try Gzip.compress(ByteBuffer(repeating: 0, count: 1 << 20), allocator: allocator)
        #expect(zeros.readableBytes < 8192)
        #expect(throws: Gzip.TooLarge.self) { try Gzip.decompress(zeros, allocator: allocator, limit: 64 << 10) }
        #expect(try Gzip.decompress(zeros, allocator: allocator, limit: 1 << 20).readableBytes == 1 << 20, "exactly the limit")
        #expect(throws: Gzip.TooLarge.self) { try Gzip.decompress(zeros, allocator: allocator, limit: (1 << 20) - 1) }
        // Two members, each within the limit, the whole past it: the last trailer alone says 600.
        var two = try Gzip.compress(body(7, count: 600), allocator: allocator)
        two.writeImmutableBuffer(try Gzip.compress(body(8, count: 600), allocator: allocator))
        #expect(throws: Gzip.TooLarge.self) { try Gzip.decompress(two, allocator: allocator, limit: 1000) }
        #expect(try Gzip.decompress(two, allocator: allocator, limit: 1200).readableBytes == 1200)
    }
}
