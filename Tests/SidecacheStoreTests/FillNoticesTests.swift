import Logging
import NIOEmbedded
import SidecacheCore
@testable import SidecacheStore
import Synchronization
import Testing

/// Cross-instance fill waits: a woken waiter is let go at once, not when its bound passes.
@Suite("Fill notices")
struct FillNoticesTests {
    final class Sentinel: Sendable {
        let calls = Mutex(0)
    }

    @Test func aWokenWaitersCallbackIsReleasedBeforeItsBound() throws {
        let loop = EmbeddedEventLoop()
        let notices = FillNotices(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1), tls: nil, keys: RedisKeys(prefix: "t:"),
                                  loop: loop, logger: Logger(label: "test"))   // never started: no connection
        let calls: Int
        weak var held: Sentinel?
        do {
            let sentinel = Sentinel()
            held = sentinel
            let wake = notices.wait(for: CacheKey(a: 1, b: 2, c: 3, d: 4), bound: .seconds(30), on: loop) {
                sentinel.calls.withLock { $0 += 1 }
            }
            wake()
            wake()   // a second wake-up calls nothing
            loop.run()
            calls = sentinel.calls.withLock { $0 }
        }
        #expect(calls == 1)
        #expect(held == nil, "what the callback held is freed at the wake-up, not when the 30 s bound passes")
        try loop.syncShutdownGracefully()
    }
}
