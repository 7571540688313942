import NIOCore
import NIOHTTP1
import NIOPosix
import SidecacheAdmin
import SidecacheConfig

/// Starting and stopping the two listeners: the `listener` and `admin` parts.
extension ProxyServer {
    /// Binds the proxy listener; returns once it accepts (and `/readyz` says ready).
    func bindListener() async throws {
        let config = engine.config
        let engine = self.engine
        let connections = self.connections
        let openFiles = OpenFileLimit.raise()
        if openFiles < OpenFileLimit.needed(connections: config.limits.connections) {
            logger.warning("open-file limit is below what limits.connections needs: raise it (ulimit -n, LimitNOFILE=) or lower limits.connections",
                           metadata: ["openFiles": "\(openFiles)", "connections": "\(config.limits.connections)",
                                      "needed": "\(OpenFileLimit.needed(connections: config.limits.connections))"])
        }
        let bootstrap = ServerBootstrap(group: eventLoops)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client that shuts its sending side after its request still gets the answer
            // (ConnectionHandler's inputClosed): the connection reads on while it waits.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                guard connections.admit(channel, limit: engine.config.limits.connections) else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.release(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let clock = HeadClock()
                    let connection = ConnectionHandler(engine: engine, connections: connections, headClock: clock, channel: channel)
                    try sync.addHandler(TimedRequestDecoder(clock: clock, limits: engine.config.limits))
                    try sync.addHandler(connection)
                }
            }
        let bound = try await bootstrap.bind(host: config.listen.host, port: config.listen.port).get()
        channel.withLock { $0 = bound }
        readiness.startServing()
        logger.info("sidecache listening", metadata: [
            "listen": "\(ListenAddress(host: config.listen.host, port: bound.localAddress?.port ?? config.listen.port))",
            "upstream": "\(config.upstream)",
            "routes": "\(config.routes.routes.count)",
            "purgeRules": "\(config.purge.count)",
            "store": "memory \(config.store.memoryBytes) bytes\(config.store.redis.map { ", \($0) (\(config.store.consistency.rawValue))" } ?? "")",
        ])
    }

    /// DESIGN's SIGTERM: `/readyz` turns 503, the listener stops accepting, in-flight
    /// answers finish; whatever is still open after `drainGrace` is closed. Waits on
    /// the last connection's close, raced against the grace period: no polling.
    ///
    /// A mutation whose client that close cuts runs on (`Exchange.clientGone`), and is
    /// given another grace to be answered before the upstream client stops: cut at
    /// once, it purged while the upstream was still making the write, and another
    /// instance stored the old answer again for its ttl (the lifecycle audit's). One
    /// still running then is cut and purges in doubt.
    func drainListener() async {
        readiness.startDraining()
        logger.info("draining")
        let listener = channel.withLock { c in defer { c = nil }; return c }
        try? await listener?.close()
        let emptied = connections.drainAll()
        let grace = drainGrace.withLock { $0 }
        await Self.wait(for: emptied, upTo: grace)
        guard connections.count > 0 else { return }
        connections.closeAll()
        await Self.wait(for: emptied, upTo: grace)
    }

    private static func wait(for emptied: Latch<Void>, upTo grace: Duration) async {
        await withTaskGroup(of: Void.self) { race in
            race.addTask { _ = try? await emptied.wait() }
            race.addTask { try? await Task.sleep(for: grace) }
            await race.next()
            race.cancelAll()
        }
    }

    /// Binds the admin listener (`admin.listen`).
    func bindAdmin(_ admin: AdminServer, at address: ListenAddress) async throws {
        let port = try await admin.start(host: address.host, port: address.port, group: eventLoops)
        boundAdminPort.withLock { $0 = port }
        logger.info("admin listening", metadata: [
            "listen": "\(ListenAddress(host: address.host, port: port))",
            "token": "\(engine.config.admin?.token == nil ? "none (loopback only)" : "required")",
        ])
    }
}
