import Logging
import ServiceLifecycle

/// One long-running part of the proxy (the event loops, Redis, the curl client, a
/// listener, the warmer): how it starts and how it stops.
struct Part: Sendable {
    let name: String
    /// Returns once the part serves (a listener is bound). Throwing fails the start-up.
    let start: @Sendable () async throws -> Void
    /// Returns once the part has stopped (a listener has drained).
    let stop: @Sendable () async -> Void
}

/// Runs a `Part` in the proxy's `ServiceGroup`.
///
/// A ServiceGroup starts all its services at once and only orders their shutdown
/// (the reverse of the array). Start-up is ordered here instead: a part starts once
/// the part before it has started (`after`), so a listener never takes a request
/// before the upstream client and the stores it needs exist, and the array order is
/// the start-up order as well.
final class PartService: Service, CustomStringConvertible {
    let part: Part
    /// Resolves true once this part serves, false if it never will (it or one before it failed).
    let started: Latch<Bool>
    private let after: Latch<Bool>?
    private let logger: Logger

    /// `announcing` is where this part reports its start: the server's own latch for the last part.
    init(_ part: Part, after: PartService?, announcing started: Latch<Bool>, logger: Logger) {
        self.part = part
        self.after = after?.started
        self.started = started
        self.logger = logger
    }

    var description: String { part.name }

    func run() async throws {
        defer { started.resolve(false) }   // no-op once started: releases the next part
        let after = self.after
        guard (try? await cancelWhenGracefulShutdown({ try await after?.wait() ?? true })) == true else {
            // Told to stop before its turn came, or the part before will never start (so
            // the group is stopping on that part's error): this one starts nothing. Said
            // at once, since the group stops the parts after this one first.
            started.resolve(false)
            try? await gracefulShutdown()
            return
        }
        try await part.start()
        logger.debug("part started", metadata: ["part": "\(part.name)"])
        started.resolve(true)
        // Graceful shutdown (in reverse order) or cancellation: stop either way.
        try? await gracefulShutdown()
        await part.stop()
        logger.debug("part stopped", metadata: ["part": "\(part.name)"])
    }
}
