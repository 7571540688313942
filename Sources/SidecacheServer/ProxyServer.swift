import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SidecacheConfig
import SidecacheCore
import SidecacheStore
import SidecacheUpstream
import Synchronization

/// The proxy listener: binds, accepts (up to `limits.connections`), and drains on shutdown.
public final class ProxyServer: Sendable {
    let engine: ProxyEngine
    private let group: MultiThreadedEventLoopGroup
    private let channel: Mutex<(any Channel)?> = Mutex(nil)
    private let connections = ConnectionRegistry()
    private let logger: Logger

    private let subscriber: PurgeSubscriber?

    public init(config: Config, clock: any WallClock = SystemClock(), logger: Logger) throws {
        let upstream = try UpstreamClient()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.threads ?? System.coreCount)
        let loops = Array(group.makeIterator())
        let redis = config.store.redis.map { RedisStore(config: config.store, endpoint: $0, loops: loops, logger: logger) }
        let engine = ProxyEngine(config: config, upstream: upstream, redis: redis, clock: clock, logger: logger,
                                 metrics: ProxyMetrics())
        self.engine = engine
        self.group = group
        self.logger = logger
        if let endpoint = config.store.redis, config.store.consistency == .fast {
            subscriber = PurgeSubscriber(endpoint: endpoint, prefix: config.store.prefix, loop: loops[0], logger: logger,
                                         onPurge: { engine.remotePurge(ids: $0) }, onResubscribe: { engine.dropL1() })
        } else {
            subscriber = nil
        }
    }

    /// Redis state for probes and operators: nil without Redis.
    public var redisStatus: RedisLink.Status? { engine.redis?.link.status }

    /// Redis connected, its epoch known and no journaled purge pending: L2 is in use.
    public var redisReady: Bool { engine.redis.map { $0.link.status.connected && $0.isReadable } ?? false }

    /// Binds the listener; returns once it accepts.
    public func start() async throws {
        engine.redis?.start()
        subscriber?.start()
        let config = engine.config
        let engine = self.engine
        let connections = self.connections
        let limit = config.limits.connections
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                guard connections.admit(channel, limit: limit) else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.remove(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(ConnectionHandler(engine: engine))
                }
            }
        let bound = try await bootstrap.bind(host: config.listen.host, port: config.listen.port).get()
        channel.withLock { $0 = bound }
        logger.info("sidecache listening", metadata: [
            "listen": "\(ListenAddress(host: config.listen.host, port: bound.localAddress?.port ?? config.listen.port))",
            "upstream": "\(config.upstream)",
            "routes": "\(config.routes.routes.count)",
            "purgeRules": "\(config.purge.count)",
            "store": "memory \(config.store.memoryBytes) bytes\(config.store.redis.map { ", \($0) (\(config.store.consistency.rawValue))" } ?? "")",
        ])
    }

    /// The port actually bound (useful with port 0).
    public var port: Int? { channel.withLock { $0?.localAddress?.port } }

    /// Stops accepting, lets in-flight answers finish (up to `grace`), then closes
    /// whatever is left and stops the threads.
    public func shutdown(grace: Duration = .seconds(10)) async {
        let listener = channel.withLock { c in defer { c = nil }; return c }
        try? await listener?.close()
        connections.drainAll()
        let deadline = ContinuousClock.now + grace
        while connections.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        connections.closeAll()
        engine.upstream.shutdown()
        subscriber?.stop()
        engine.redis?.shutdown()
        try? await group.shutdownGracefully()
        logger.info("sidecache stopped")
    }
}

/// Open client connections: admission against the limit, and the drain at shutdown.
final class ConnectionRegistry: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    func admit(_ channel: any Channel, limit: Int) -> Bool {
        open.withLock { open in
            guard open.count < limit else { return false }
            open[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = open.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    var count: Int { open.withLock { $0.count } }

    func drainAll() {
        for channel in open.withLock({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        }
    }

    func closeAll() {
        for channel in open.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}
