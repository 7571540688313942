import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SidecacheAdmin
import SidecacheConfig
import SidecacheCore
import SidecacheMetrics
import SidecacheStore
import SidecacheUpstream
import ServiceLifecycle
import Synchronization

/// The proxy: its engine and every long-running part around it (event loops, the
/// store and its Redis links, the curl client, the admin and proxy listeners, the warmer), which run as services
/// of one swift-service-lifecycle `ServiceGroup` (`ProxyServer+Services`).
public final class ProxyServer: Sendable {
    let engine: ProxyEngine
    let eventLoops: MultiThreadedEventLoopGroup
    let channel: Mutex<(any Channel)?> = Mutex(nil)
    let connections = ConnectionRegistry()
    let logger: Logger

    let readiness = Readiness()
    let admin: AdminServer?
    let boundAdminPort = Mutex<Int?>(nil)
    let warmer: Warmer
    /// How long a drain waits for in-flight answers before closing what is left.
    let drainGrace = Mutex<Duration>(defaultDrainGrace)
    /// README's "up to 10 s"; Compose's and Kubernetes' grace periods in deploy/ allow for it.
    static let defaultDrainGrace = Duration.seconds(10)
    /// True once every part has started, false if start-up failed or was stopped.
    let started = Latch<Bool>()
    /// The group `start()` runs, for `shutdown(grace:)`.
    let running = Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>(nil)
    /// One reload at a time (two SIGHUPs in a row apply in order).
    let reloadLock = Mutex(())

    /// `clock` stamps entries (wall time, shared through Redis); `scheduleClock` paces
    /// warming. Tests pass clocks they move by hand. `accessLines` takes the access log's
    /// lines (`log.access`), each ending in a newline; by default they go to standard
    /// error, with the other log lines.
    public convenience init(config: Config, clock: any WallClock = SystemClock(), logger: Logger,
                            accessLines: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil) throws {
        try self.init(config: config, clock: clock, scheduleClock: ContinuousClock(), logger: logger, accessLines: accessLines)
    }

    public init<C: Clock<Duration>>(config: Config, clock: any WallClock = SystemClock(), scheduleClock: C, logger: Logger,
                                    accessLines: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil) throws {
        let storeOptions = try StoreOptions(config.store)   // first: a bad TLS file fails before threads start
        if config.store.tls?.verify == false {
            logger.warning("store.tls.verify is false: the Redis server's certificate is not checked (tests only)")
        }
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: config.threads ?? System.coreCount)
        let loops = Array(eventLoops.makeIterator())
        let upstream = try UpstreamClient(loops: loops)
        let metrics = ProxyMetrics(for: config)
        let store = TieredStore(options: storeOptions, loops: loops, logger: logger,
                                onRemotePurge: { metrics.purged(source: .remote, count: $0) })
        let engine = ProxyEngine(config: config, upstream: upstream, store: store, clock: clock, logger: logger, metrics: metrics,
                                 accessLines: accessLines)
        self.engine = engine
        self.eventLoops = eventLoops
        self.logger = logger
        warmer = Warmer(fetch: { target in try await Self.warm(target, engine: engine, loop: eventLoops.next()) }, clock: scheduleClock,
                        logger: logger)
        admin = config.admin.map { [readiness] admin in
            AdminServer(api: AdminAPI(backend: ProxyAdminBackend(engine: engine, readiness: readiness), admin: admin, logger: logger),
                        limits: {
                            let limits = engine.config.limits
                            return AdminServer.Limits(requestTime: limits.headerTimeout, idleTime: limits.idleTimeout)
                        },
                        logger: logger)
        }
    }

    /// Warming goes through the engine's refresh: the normal fill path, bypassing the
    /// cache, so a still-fresh entry is fetched again. Warm requests carry `host` (the
    /// Host clients send, part of the key; else the top-level `host`, else the upstream's
    /// authority) and `headers`, keyed like a client's.
    static func warm(_ target: WarmTarget, engine: ProxyEngine, loop: any EventLoop) async throws {
        let config = engine.config
        let result = try await engine.refresh(path: target.path, host: target.host ?? config.defaultHost, headers: target.headers,
                                              on: loop).get()
        // The answer's `Cache-Status` says whether it is stored: a 404 on a duration route is.
        guard let cacheStatus = result.headers.first(where: { $0.name == CacheStatusField.name })?.value else {
            // The proxy's own 409 (no fill, no field): a fetch for the entry is already
            // under way, which warms it just as well. An upstream's 409 has a field.
            guard result.status == 409 else { throw WarmFailure(status: result.status, cacheStatus: nil) }
            return
        }
        if CacheStatusField.inStore(cacheStatus) { return }
        // Kept out by the moment (a purge meanwhile, Redis away, bodies at their limit):
        // a failure to try again soon, not the answer's own word.
        guard result.status < 400, CacheStatusField.notStored(cacheStatus)?.passes != true else {
            throw WarmFailure(status: result.status, cacheStatus: cacheStatus)
        }
        throw Warmer.NotStored(status: result.status, cacheStatus: cacheStatus)
    }

    struct WarmFailure: Error, CustomStringConvertible {
        var status: Int
        var cacheStatus: String?
        var description: String { "answered \(status)" + (cacheStatus.map { " (\($0))" } ?? "") }
    }

    /// Redis state for probes and operators: nil without Redis.
    public var redisStatus: SharedTierStatus? { engine.store.sharedStatus }

    /// Redis connected, its epoch known and no journaled purge pending: L2 is in use.
    public var redisReady: Bool { engine.store.sharedStatus?.usable ?? false }

    /// The admin listener's port, once started (nil without `admin`).
    public var adminPort: Int? { boundAdminPort.withLock { $0 } }

    /// The generation of the config in force: 1 at start, +1 per applied reload.
    public var configGeneration: Int { engine.settings.generation }

    /// The port actually bound (useful with port 0).
    public var port: Int? { channel.withLock { $0?.localAddress?.port } }
}

extension StoreOptions {
    /// The store's options from `store` in proxy.json; throws what is wrong with a
    /// `store.tls` file (named by its key).
    init(_ config: StoreConfig) throws {
        let shared = try config.redis.map { endpoint in
            SharedTierOptions(endpoint: endpoint, consistency: config.consistency, prefix: config.prefix, timeout: config.timeout,
                              outageGrace: config.outageGrace,
                              tls: try endpoint.tls ? RedisTLS.make(config.tls ?? RedisTLSSettings()) : nil,
                              signingKey: config.signingKey)
        }
        self.init(memoryBytes: config.memoryBytes, shared: shared)
    }
}
