import Logging
import ServiceLifecycle
import UnixSignals

/// The proxy's parts as services of one `ServiceGroup`, in start-up order.
extension ProxyServer {
    /// Start-up order; the group shuts down in reverse:
    /// - event loops: every socket lives on them, so they go last;
    /// - the store's Redis links (and fast mode's purge subscriber): before any request;
    ///   on the way down after everything that purges, and only once Redis has the
    ///   purges it is owed or the grace has passed (`settlePurges`);
    /// - admin: before the proxy listener and after it on the way down, so `/readyz`
    ///   answers 503 while the proxy listener drains; after the curl client too, whose
    ///   stop ends the fetch of a `/refresh` still waiting on a slow upstream;
    /// - the curl client: outlives the drain, so in-flight answers keep their upstream;
    /// - the proxy listener: stopping it is the drain (up to `drainGrace`);
    /// - the warmer: first to stop, so no warm fetch starts during the drain.
    var parts: [Part] {
        var parts = [Part(name: "event-loops", start: {}, stop: { [self] in
            try? await eventLoops.shutdownGracefully()
            logger.info("sidecache stopped")
        })]
        if engine.store.sharedStatus != nil {
            // Its Redis links, and in fast mode the purge subscriber.
            parts.append(Part(name: "redis", start: { [engine] in engine.store.start() }, stop: { [self, engine] in
                // A mutation the curl client's stop cut off purges in doubt on its loop:
                // what the loops still have queued runs first, so its purge is on its way.
                for loop in eventLoops.makeIterator() { try? await loop.submit {}.get() }
                await engine.store.settlePurges(within: drainGrace.withLock { $0 })
                engine.store.shutdown()
            }))
        }
        if let admin, let address = engine.config.admin?.listen {
            parts.append(Part(name: "admin", start: { [self] in try await bindAdmin(admin, at: address) }, stop: { await admin.stop() }))
        }
        // The curl thread starts with the client (which tests also use on its own); the
        // service decides when it ends.
        parts.append(Part(name: "upstream", start: {}, stop: { [engine] in engine.upstream.shutdown() }))
        if let verifier = engine.settings.verifier {
            // The JWK Set's keys are loaded before the first request (a bad key fails the start).
            parts.append(Part(name: "auth", start: { try await verifier.ready() }, stop: {}))
        }
        parts.append(Part(name: "listener", start: { [self] in try await bindListener() }, stop: { [self] in await drainListener() }))
        parts.append(Part(name: "warmer", start: { [self] in warmer.run(engine.config.warm) }, stop: { [warmer] in warmer.stop() }))
        return parts
    }

    /// The group that runs this proxy, once: its parts in order, then `adding` (the
    /// executable's SIGHUP reloader). A part that fails to start shuts the group down
    /// gracefully (the parts already started stop in reverse) and `run()` throws its error.
    public func serviceGroup(adding extra: [any Service] = [], gracefulShutdownSignals: [UnixSignal] = []) -> ServiceGroup {
        var previous: PartService?
        let all = parts
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = all.enumerated().map { index, part in
            let service = PartService(part, after: previous, announcing: index == all.count - 1 ? started : Latch(), logger: logger)
            previous = service
            return .init(service: service, failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        services += extra.map { .init(service: $0, failureTerminationBehavior: .gracefullyShutdownGroup) }
        return ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
    }

    /// Returns true once every part has started, false if start-up failed or the group
    /// was shut down first.
    public func waitUntilStarted() async throws -> Bool {
        try await started.wait()
    }

    /// Runs the group in the background (for tests and embedders); returns once every
    /// part has started, or throws why one could not.
    public func start() async throws {
        let group = serviceGroup()
        let task = Task { try await group.run() }
        running.withLock { $0 = (group, task) }
        guard try await waitUntilStarted() else {
            try await task.value   // the error of the part that could not start
            throw StoppedWhileStarting()
        }
    }

    /// `shutdown` came before every part had started.
    public struct StoppedWhileStarting: Error {}

    /// The graceful shutdown a SIGTERM triggers, for a server run by `start()`: stops the
    /// parts in reverse order, the listener's drain waiting up to `grace`. A server that
    /// never started only releases what its initialiser took (threads, the curl thread).
    public func shutdown(grace: Duration = .seconds(10)) async {
        drainGrace.withLock { $0 = grace }
        guard let (group, task) = running.withLock({ $0 }) else {
            for part in parts.reversed() { await part.stop() }
            return
        }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
