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
