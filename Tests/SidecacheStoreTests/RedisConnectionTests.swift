import NIOCore
import NIOPosix
import SidecacheCore
@testable import SidecacheStore
import SidecacheTestSupport
import Testing

/// A connection's greeting (AUTH, SELECT, PING) against a real redis-server.
@Suite("Redis connection: the greeting")
struct RedisConnectionTests {
    /// A paused Redis (SIGSTOP: the kernel still accepts connections) answers no greeting,
    /// so each attempt fails on its timeout. Each must close its socket: the link retries
    /// all through a pause, and every attempt left open was answered once Redis resumed
    /// and then kept, one more idle client per retry, until file descriptors ran out.
    @Test func aGreetingThatTimesOutClosesItsConnection() async throws {
        let redis = try await RedisServer.start()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        // Database 7: the greeting's SELECT marks this test's connections (`db=7` in
        // CLIENT LIST), apart from any other test's link still retrying this port.
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: redis.port, database: 7)
        redis.pause()
        let attempts = (0..<3).map { _ in
            RedisConnection.connect(to: endpoint, tls: nil, on: loop, timeout: .milliseconds(50))
        }
        var failed = 0
        for attempt in attempts {
            do { _ = try await attempt.get() } catch { failed += 1 }
        }
        redis.resume()
        #expect(failed == 3, "no greeting is answered while Redis is paused")
        let gone = try await eventually(timeout: .seconds(30)) {
            try await !redis.cli("CLIENT", "LIST").contains(" db=7 ")
        }
        let clients = try await redis.cli("CLIENT", "LIST")
        #expect(gone, "the attempts' connections left: \(clients)")
        await redis.stop()
    }
}
