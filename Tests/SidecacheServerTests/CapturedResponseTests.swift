import NIOCore
import NIOPosix
@testable import SidecacheServer
import Synchronization
import Testing

/// The exchanges the proxy runs for itself (revalidation, warming, admin refreshes) write
/// into a `CapturedResponse`, which nothing reads as it fills.
@Suite("Captured responses")
struct CapturedResponseTests {
    /// An answer too large to store streams through whole; the capture keeps its first MiB
    /// and takes the rest without holding it, so every write is acknowledged and the
    /// transfer goes on. It kept everything: a background refresh of a 500 MB answer held
    /// all of it (twice, as the buffer grew).
    @Test func atMostAMebibyteIsKeptAndEveryWriteIsTaken() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let capture = CapturedResponse(loop: loop)
        let acknowledged = Atomic<Int>(0)
        let chunk = ByteBuffer(repeating: 0x61, count: 300_000)
        for _ in 0..<10 { capture.writeAndFlush(chunk, written: { acknowledged.add(1, ordering: .relaxed) }) }
        capture.write(chunk)
        capture.responseFinished(close: false)
        let kept = try await capture.response.get()
        #expect(kept.readableBytes == CapturedResponse.keptBytes)
        #expect(acknowledged.load(ordering: .relaxed) == 10, "every write taken, so the transfer is never held")
    }
}
