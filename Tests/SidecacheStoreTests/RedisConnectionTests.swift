import Glibc
import Logging
import NIOCore
import NIOPosix
import SidecacheCore
@testable import SidecacheStore
import SidecacheTestSupport
import Synchronization
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

    /// A subscription's connection only listens: keepalive probes are what notice a server
    /// gone without a FIN (a frozen host, a failover's old master). It had none, and an
    /// instance kept serving what other instances purged.
    /// (Connects get 10 s: a just-started server on a loaded machine took more than 1.)
    @Test func aSubscriptionsConnectionProbesItsServer() async throws {
        let redis = try await RedisServer.start()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: redis.port)
        let listening = try await RedisConnection.connect(to: endpoint, tls: nil, on: loop, timeout: .seconds(10), onPush: { _ in }).get()
        #expect(try await listening.channel.getOption(.socketOption(.so_keepalive)).get() == 1)
        #expect(try await listening.channel.getOption(.tcpOption(.init(rawValue: TCP_KEEPIDLE))).get() == 4)
        let commands = try await RedisConnection.connect(to: endpoint, tls: nil, on: loop, timeout: .seconds(10)).get()
        #expect(try await commands.channel.getOption(.socketOption(.so_keepalive)).get() == 0, "command connections are written to")
        listening.close()
        commands.close()
        await redis.stop()
    }

    /// A frozen server (SIGSTOP; a hung host whose kernel still answers) keeps the
    /// connection and TCP's keepalives alive: a subscription there heard nothing, for as
    /// long, while a failover's new master took the purges. Unanswered PINGs close it,
    /// and it subscribes again (reported: messages may have been missed).
    @Test func aSubscriptionToAFrozenServerSubscribesAgain() async throws {
        let redis = try await RedisServer.start()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: redis.port)
        let subscribed = Atomic<Int>(0)
        let heard = Atomic<Int>(0)
        let subscription = RedisSubscription(channel: "sidecache:purge", loop: loop, logger: Logger(label: "test"),
                                             connect: { loop, onPush in
                                                 RedisConnection.connect(to: endpoint, tls: nil, on: loop, timeout: .seconds(10), onPush: onPush)
                                             },
                                             onMessage: { _ in heard.add(1, ordering: .relaxed) },
                                             onSubscribed: { subscribed.add(1, ordering: .relaxed) },
                                             probeEvery: .milliseconds(200), probeTimeout: .milliseconds(500))
        subscription.start()
        #expect(try await eventually { subscribed.load(ordering: .relaxed) == 1 })
        redis.pause()
        // Frozen for many probes: the connection is given up on while the server is frozen.
        try await Task.sleep(for: .seconds(2))
        redis.resume()
        #expect(try await eventually { subscribed.load(ordering: .relaxed) == 2 }, "subscribed again after the freeze")
        #expect(try await eventually {
            _ = try await redis.cli("PUBLISH", "sidecache:purge", "x")
            return heard.load(ordering: .relaxed) >= 1
        })
        subscription.stop()
        await redis.stop()
    }

    /// A SUBSCRIBE refused (an ACL user without the channel) is no subscription: it was
    /// taken for one, and the instance never heard a purge, with nothing said.
    @Test func aRefusedSubscribeIsRetriedNotTakenForASubscription() async throws {
        let redis = try await RedisServer.start()
        _ = try await redis.cli("ACL", "SETUSER", "listener", "on", ">secret-secret", "~*", "resetchannels", "+@all")
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: redis.port, user: "listener", password: "secret-secret")
        let subscribed = Atomic<Int>(0)
        let subscription = RedisSubscription(channel: "sidecache:purge", loop: loop, logger: Logger(label: "test"),
                                             connect: { loop, onPush in
                                                 RedisConnection.connect(to: endpoint, tls: nil, on: loop, timeout: .seconds(1), onPush: onPush)
                                             },
                                             onMessage: { _ in }, onSubscribed: { subscribed.add(1, ordering: .relaxed) })
        subscription.start()
        try await Task.sleep(for: .milliseconds(1500))   // five or six attempts (backoff 50 ms, doubling)
        #expect(subscribed.load(ordering: .relaxed) == 0)
        let clients = try await redis.cli("CLIENT", "LIST")
        // One attempt's connection may still be closing as the next one opens; left open,
        // every refused attempt would still be here.
        #expect(clients.split(separator: "\n").filter { $0.contains("user=listener") }.count <= 2, "refused attempts are closed: \(clients)")
        _ = try await redis.cli("ACL", "SETUSER", "listener", "allchannels")
        #expect(try await eventually { subscribed.load(ordering: .relaxed) == 1 }, "subscribed once the channel is allowed")
        subscription.stop()
        await redis.stop()
    }

    /// A link reports each connection made and lost (the store forgets its epochs at a
    /// loss and learns them at a connect), but not the losses of its own shutdown: a
    /// cluster node's link dropped from the map never connects again, and its losses
    /// left the epochs forgotten with nothing to learn them (L2 unusable until some
    /// other connection flapped).
    @Test func aLinkShutDownReportsNoLoss() async throws {
        let redis = try await RedisServer.start()
        // Two loops of its own: two `next()` of the shared group gave one loop twice when
        // another test took one in between (one connection, never the two counted).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        // 10 s per command: the greeting to a just-started server ran out of 1 s on a
        // loaded machine, and the connections it counts never came.
        let link = RedisLink(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port), loops: loops, timeout: .seconds(10),
                             logger: Logger(label: "test"))
        let changes = Mutex<[String]>([])
        link.whenConnectionChanges { change in changes.withLock { $0.append("\(change)") } }
        link.start()
        #expect(try await eventually { changes.withLock { $0 }.filter { $0 == "connected" }.count == 2 })
        _ = try await redis.cli("CLIENT", "KILL", "TYPE", "normal")
        #expect(try await eventually { changes.withLock { $0 }.filter { $0 == "connected" }.count == 4 }, "reconnected")
        #expect(changes.withLock { $0 }.filter { $0 == "lost" }.count == 2, "each loss reported")
        link.shutdown()
        try await Task.sleep(for: .milliseconds(300))
        #expect(changes.withLock { $0 }.filter { $0 == "lost" }.count == 2, "the shutdown's closes are not losses")
        await redis.stop()
        try await group.shutdownGracefully()
    }
}
