import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SidecacheConfig
import SidecacheCore
import SidecacheStore
import SidecacheUpstream
import Synchronization

/// The proxy listener: binds, accepts (up to `limits.connections`), and drains on
/// shutdown. With `admin` it also runs the admin listener; with `warm`, the warmer.
public final class ProxyServer: Sendable {
    let engine: ProxyEngine
    private let group: MultiThreadedEventLoopGroup
    private let channel: Mutex<(any Channel)?> = Mutex(nil)
    let connections = ConnectionRegistry()
    let logger: Logger

    let readiness = Readiness()
    private let admin: AdminServer?
    private let boundAdminPort = Mutex<Int?>(nil)
    let warmer: Warmer
    /// One reload at a time (two SIGHUPs in a row apply in order).
    let reloadLock = Mutex(())

    /// `clock` stamps entries (wall time, shared through Redis); `scheduleClock` paces
    /// warming. Tests pass clocks they move by hand.
    public convenience init(config: Config, clock: any WallClock = SystemClock(), logger: Logger) throws {
        try self.init(config: config, clock: clock, scheduleClock: ContinuousClock(), logger: logger)
    }

    public init<C: Clock<Duration>>(config: Config, clock: any WallClock = SystemClock(), scheduleClock: C, logger: Logger) throws {
        let upstream = try UpstreamClient()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.threads ?? System.coreCount)
        let loops = Array(group.makeIterator())
        let metrics = ProxyMetrics(config: config, logger: logger)
        let store = TieredStore(options: StoreOptions(config.store), loops: loops, logger: logger,
                                onRemotePurge: { metrics.purged(source: .remote, count: $0) })
        let engine = ProxyEngine(config: config, upstream: upstream, store: store, clock: clock, logger: logger, metrics: metrics)
        self.engine = engine
        self.group = group
        self.logger = logger
        warmer = Warmer(fetch: { target in try await Self.warm(target, engine: engine, loop: group.next()) }, clock: scheduleClock,
                        logger: logger)
        admin = config.admin.map { [readiness] admin in
            let api = AdminAPI(engine: engine, admin: admin, readiness: readiness, refresher: { path, host, loop in
                AdminResponse(refreshed: try await engine.refresh(path: path, host: host, on: loop).get())
            }, logger: logger)
            return AdminServer(api: api, logger: logger)
        }
    }

    /// Warming goes through the engine's refresh: the normal fill path, bypassing the
    /// cache, so a still-fresh entry is fetched again. Warm requests carry `host` (the
    /// Host clients send, part of the key), else the upstream's authority.
    static func warm(_ target: WarmTarget, engine: ProxyEngine, loop: any EventLoop) async throws {
        let result = try await engine.refresh(path: target.path, host: target.host ?? engine.config.upstream.authority, on: loop).get()
        // 409: a fetch for the entry is already under way, which warms it just as well.
        guard result.status < 400 || result.status == 409 else { throw WarmFailure(status: result.status) }
    }

    struct WarmFailure: Error, CustomStringConvertible {
        var status: Int
        var description: String { "answered \(status)" }
    }

    /// Redis state for probes and operators: nil without Redis.
    public var redisStatus: SharedTierStatus? { engine.store.sharedStatus }

    /// Redis connected, its epoch known and no journaled purge pending: L2 is in use.
    public var redisReady: Bool { engine.store.sharedStatus?.usable ?? false }

    /// Binds the listener; returns once it accepts.
    public func start() async throws {
        engine.store.start()
        let config = engine.config
        let engine = self.engine
        let connections = self.connections
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                guard connections.admit(channel, limit: engine.config.limits.connections) else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.remove(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let clock = HeadClock()
                    let connection = ConnectionHandler(engine: engine, headClock: clock)
                    try sync.addHandler(HeadStartWatcher(clock: clock))
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(connection)
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
        if let admin, let address = config.admin?.listen {
            let port = try await admin.start(host: address.host, port: address.port, group: group)
            boundAdminPort.withLock { $0 = port }
            logger.info("admin listening", metadata: [
                "listen": "\(ListenAddress(host: address.host, port: port))",
                "token": "\(config.admin?.token == nil ? "none (loopback only)" : "required")",
            ])
        }
        warmer.run(config.warm)
    }

    /// The admin listener's port, once started (nil without `admin`).
    public var adminPort: Int? { boundAdminPort.withLock { $0 } }

    /// The generation of the config in force: 1 at start, +1 per applied reload.
    public var configGeneration: Int { engine.settings.generation }

    /// The port actually bound (useful with port 0).
    public var port: Int? { channel.withLock { $0?.localAddress?.port } }

    /// Stops accepting, lets in-flight answers finish (up to `grace`), then closes
    /// whatever is left and stops the threads.
    public func shutdown(grace: Duration = .seconds(10)) async {
        readiness.startDraining()
        warmer.stop()
        let listener = channel.withLock { c in defer { c = nil }; return c }
        try? await listener?.close()
        connections.drainAll()
        let deadline = ContinuousClock.now + grace
        while connections.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        connections.closeAll()
        await admin?.stop()
        engine.upstream.shutdown()
        engine.store.shutdown()
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

extension StoreOptions {
    /// The store's options from `store` in proxy.json.
    init(_ config: StoreConfig) {
        self.init(memoryBytes: config.memoryBytes, shared: config.redis.map {
            SharedTierOptions(endpoint: $0, consistency: config.consistency, prefix: config.prefix, timeout: config.timeout)
        })
    }
}
