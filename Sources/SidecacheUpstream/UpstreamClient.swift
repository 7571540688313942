import Glibc
import NIOCore
import Synchronization

/// The HTTP client the proxy forwards through: libcurl multi handles, each driven by a
/// thread this client owns (a *lane*), whose connection caches keep upstream connections
/// alive between requests. One lane per event loop, so forwarding scales with the loops
/// instead of meeting on one curl thread.
///
/// libcurl handles may only be used by one thread at a time, so every curl call
/// happens on its lane's thread; `execute`, `consumed` and `cancel` only post commands
/// to it. Events go back to each caller's event loop with `execute`, in order.
public final class UpstreamClient: Sendable {
    private final class Lane: Sendable {
        let mailbox: CurlMailbox
        /// The curl thread until someone joins it in `shutdown()`.
        let thread: Mutex<pthread_t?>

        init(mailbox: CurlMailbox, thread: pthread_t) {
            self.mailbox = mailbox
            self.thread = Mutex(thread)
        }
    }

    private let lanes: [Lane]
    /// Which lane serves each event loop; loops not listed use the first.
    private let laneOfLoop: [ObjectIdentifier: Int]
    private let streamed = StreamedBytes()

    /// Starts one curl thread per loop of `loops` (one when empty). `maxConnections`
    /// bounds the idle connections each lane keeps for reuse (CURLMOPT_MAXCONNECTS), not
    /// the transfers in flight.
    public init(loops: [any EventLoop] = [], maxConnections: Int = 256) throws {
        try CurlGlobal.initialize()
        var lanes: [Lane] = []
        // A lane that cannot start stops those already running: their threads would
        // otherwise outlive the failed start.
        do {
            let count = max(1, loops.count)
            for lane in 1...count {
                let multi = try CurlMulti(maxConnections: maxConnections, heldSockets: max(1, LingeringCloses.budget / count))
                let mailbox = CurlMailbox(multi: multi)
                let thread = try CurlThread.start(CurlLoop(multi: multi, mailbox: mailbox), name: "curl-lane-\(lane)")
                lanes.append(Lane(mailbox: mailbox, thread: thread))
            }
        } catch {
            for lane in lanes { Self.stop(lane) }
            throw error
        }
        self.lanes = lanes
        var laneOfLoop: [ObjectIdentifier: Int] = [:]
        for (i, loop) in loops.enumerated() { laneOfLoop[ObjectIdentifier(loop)] = i }
        self.laneOfLoop = laneOfLoop
    }

    /// Starts `request`. Every event is delivered by `eventLoop.execute`, in order,
    /// to `onEvents`; the last one is `.end` or `.failure`. The events that arrived in
    /// one turn of the curl loop come in one call (a small answer's head, body and end
    /// usually together), so the consumer can send them on with one write. `onEvents`
    /// runs on the event loop and must not block it.
    public func execute(
        _ request: UpstreamRequest,
        on eventLoop: any EventLoop,
        onEvents: @escaping @Sendable ([UpstreamEvent]) -> Void
    ) -> UpstreamTransfer {
        let mailbox = lanes[laneOfLoop[ObjectIdentifier(eventLoop)] ?? 0].mailbox
        let transfer = UpstreamTransfer(mailbox: mailbox, streamed: streamed)
        let start = TransferStart(
            request: request, eventLoop: eventLoop, onEvents: onEvents,
            transfer: transfer, startedAt: .now())
        if !mailbox.post(.start(start), from: eventLoop) {
            eventLoop.execute { onEvents([.failure(.shutDown)]) }
        }
        return transfer
    }

    /// Past `bytes` of body delivered and not yet consumed across all transfers (beyond
    /// each one's first 64 KiB), each transfer is held to 64 KiB ahead of its consumer
    /// instead of 1 MiB. Unbounded until set.
    public func limitStreamedBytes(to bytes: Int) {
        streamed.setBudget(bytes)
    }

    /// Body bytes delivered and not yet consumed beyond each transfer's first 64 KiB,
    /// across all transfers: what `limitStreamedBytes` bounds.
    public var streamedBytes: Int { streamed.total }

    /// Fails every transfer in flight with `.cancelled`, stops the curl threads and
    /// waits for them to end. Idempotent; later `execute` calls fail at once.
    public func shutdown() {
        for lane in lanes { Self.stop(lane) }
    }

    private static func stop(_ lane: Lane) {
        lane.mailbox.close()
        guard let thread = lane.thread.withLock({ thread in
            defer { thread = nil }
            return thread
        }) else { return }
        // The last reference to the client can be dropped on a curl thread itself (a
        // finished transfer's event closure that held it): it cannot join itself, and
        // the loop ends on its own once it sees the closed mailbox.
        if pthread_equal(thread, pthread_self()) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    deinit {
        shutdown()
    }
}
