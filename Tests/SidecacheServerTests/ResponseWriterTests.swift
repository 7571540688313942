import NIOCore
import NIOHTTP1
import NIOPosix
import SidecacheCore
import SidecacheStore
import Testing
@testable import SidecacheServer

/// How a stored answer is handed to the connection: a hit's head, its own lines and a
/// small body in one write (each NIO write costs more than copying a few KiB, issue 13);
/// a large body as stored, without a copy.
@Suite struct ResponseWriterTests {
    /// Keeps each buffer the writer hands over, in order.
    final class Recorder: ClientConnection {
        let allocator = ByteBufferAllocator()
        let eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
        var remoteAddress: String? { nil }
        var closesAfterResponse: Bool { false }
        var isDraining: Bool { false }
        var writes: [ByteBuffer] = []
        var flushes = 0

        func write(_ buffer: ByteBuffer) { writes.append(buffer) }
        func writeAndFlush(_ buffer: ByteBuffer, written: (@Sendable () -> Void)?) {
            writes.append(buffer)
            flushes += 1
        }
        func corked(_ body: () -> Void) { body() }
        func responseFinished(close: Bool) {}
    }

    private static let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "

    private func hit(bodySize: Int, isHEAD: Bool = false) -> (recorder: Recorder, head: ByteBuffer, body: ByteBuffer) {
        let recorder = Recorder()
        let head = ByteBuffer(string: Self.head + "\(bodySize)\r\n")
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: bodySize)
        let timing = EntryTiming(birth: Timestamp(seconds: 100), freshUntil: Timestamp(seconds: 400),
                                 staleWhileRevalidateUntil: Timestamp(seconds: 400), staleIfErrorUntil: Timestamp(seconds: 400))
        let entry = CacheEntry(head: head, body: body, status: 200, timing: timing, fillSeq: 1, scopeIDs: [])
        let writer = ResponseWriter(connection: recorder, isHEAD: isHEAD, version: .http1_1, request: [:])
        _ = writer.hit(entry.timing, form: StoredForm(head: head, body: body), range: .whole, now: Timestamp(seconds: 103), staleDetail: nil)
        return (recorder, head, body)
    }

    private static let lines = "Age: 3\r\nX-Cache: HIT\r\nCache-Status: sidecache; hit; ttl=297\r\n\r\n"

    @Test func aSmallHitIsOneBufferInOneWrite() {
        let (recorder, head, body) = hit(bodySize: 1024)
        #expect(recorder.writes.count == 1)
        #expect(recorder.flushes == 1)
        #expect(recorder.writes.first.map { String(buffer: $0) }
            == String(buffer: head) + Self.lines + String(buffer: body))
    }

    @Test func aLargeBodyGoesOutAsStoredWithoutACopy() {
        let size = ResponseWriter.gatheredBodyLimit + 1
        let (recorder, head, body) = hit(bodySize: size)
        #expect(recorder.writes.count == 2)
        #expect(recorder.flushes == 1)
        #expect(recorder.writes.first.map { String(buffer: $0) } == String(buffer: head) + Self.lines)
        // The stored body itself: same storage, no copy.
        let sameStorage = recorder.writes.last?.withUnsafeReadableBytes { $0.baseAddress }
            == body.withUnsafeReadableBytes { $0.baseAddress }
        #expect(sameStorage)
    }

    @Test func aHEADHitIsTheHeadAndLinesOnly() {
        let (recorder, head, _) = hit(bodySize: 1024, isHEAD: true)
        #expect(recorder.writes.count == 1)
        #expect(recorder.writes.first.map { String(buffer: $0) } == String(buffer: head) + Self.lines)
    }
}

/// A thread assembles its answers from the cache in one kept buffer (`AnswerBuffer`).
@Suite struct AnswerBufferTests {
    private static let timing = EntryTiming(birth: Timestamp(seconds: 100), freshUntil: Timestamp(seconds: 400),
                                            staleWhileRevalidateUntil: Timestamp(seconds: 400),
                                            staleIfErrorUntil: Timestamp(seconds: 400))

    /// One hit of a 1 KiB body of `fill` bytes, written to `recorder`, which keeps it
    /// as NIO does until it is written.
    private static func hit(_ fill: Character, to recorder: ResponseWriterTests.Recorder) -> String {
        let head = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n")
        let body = ByteBuffer(string: String(repeating: fill, count: 1024))
        let writer = ResponseWriter(connection: recorder, isHEAD: false, version: .http1_1, request: [:])
        _ = writer.hit(timing, form: StoredForm(head: head, body: body), range: .whole, now: Timestamp(seconds: 103), staleDetail: nil)
        return String(buffer: head) + "Age: 3\r\nX-Cache: HIT\r\nCache-Status: sidecache; hit; ttl=297\r\n\r\n" + String(buffer: body)
    }

    private static func address(_ buffer: ByteBuffer?) -> UnsafeRawPointer? {
        buffer?.withVeryUnsafeBytes { $0.baseAddress }
    }

    /// Synchronous, so that no other test on this thread takes the buffer in between.
    @Test func theNextAnswerIsWrittenInTheSameBytesOnceTheLastIsOut() {
        let first = ResponseWriterTests.Recorder()
        _ = Self.hit("a", to: first)
        let used = Self.address(first.writes.first)
        let capacity = first.writes.first?.capacity ?? 0
        first.writes.removeAll()   // written: the kept buffer is the only reference
        // Takes the bytes that were freed had nothing been kept: malloc hands a block
        // just freed to the next request of its size.
        let blocker = ByteBufferAllocator().buffer(capacity: capacity)
        let second = ResponseWriterTests.Recorder()
        let expected = Self.hit("b", to: second)
        #expect(second.writes.first.map { String(buffer: $0) } == expected)
        #expect(Self.address(second.writes.first) == used)
        withExtendedLifetime(blocker) {}
    }

    /// A client slow to read: its answer, still held by the write, is not touched by the
    /// next answer, which gets bytes of its own.
    @Test func anAnswerStillBeingWrittenIsLeftAlone() {
        let slow = ResponseWriterTests.Recorder()
        let first = Self.hit("a", to: slow)
        let next = ResponseWriterTests.Recorder()
        let second = Self.hit("b", to: next)
        #expect(slow.writes.first.map { String(buffer: $0) } == first)
        #expect(next.writes.first.map { String(buffer: $0) } == second)
        #expect(Self.address(next.writes.first) != Self.address(slow.writes.first))
    }
}
