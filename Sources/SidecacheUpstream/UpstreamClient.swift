import Glibc
import NIOCore
import Synchronization

/// The HTTP client the proxy forwards through: one libcurl multi handle, driven by
/// one thread this client owns, whose connection cache keeps upstream connections
/// alive between requests.
///
/// libcurl handles may only be used by one thread at a time, so every curl call
/// happens on that thread; `execute`, `consumed` and `cancel` only post commands to
/// it. Events go back to each caller's event loop with `execute`, in order.
public final class UpstreamClient: Sendable {
    private let mailbox: CurlMailbox
    /// The curl thread until someone joins it in `shutdown()`.
    private let thread: Mutex<pthread_t?>

    /// Starts the curl thread. `maxConnections` bounds the idle connections kept for
    /// reuse (CURLMOPT_MAXCONNECTS), not the transfers in flight.
    public init(maxConnections: Int = 256) throws {
        try CurlGlobal.initialize()
        guard let multi = CurlMulti(maxConnections: maxConnections) else {
            throw UpstreamFailure(kind: .other, detail: "curl_multi_init failed")
        }
        let mailbox = CurlMailbox(multi: multi)
        self.mailbox = mailbox
        self.thread = Mutex(try CurlThread.start(CurlLoop(multi: multi, mailbox: mailbox)))
    }

    /// Starts `request`. Every event is delivered by `eventLoop.execute`, in order,
    /// to `onEvent`; the last one is `.end` or `.failure`. `onEvent` runs on the event
    /// loop and must not block it.
    public func execute(
        _ request: UpstreamRequest,
        on eventLoop: any EventLoop,
        onEvent: @escaping @Sendable (UpstreamEvent) -> Void
    ) -> UpstreamTransfer {
        let transfer = UpstreamTransfer(mailbox: mailbox)
        let start = TransferStart(
            request: request, eventLoop: eventLoop, onEvent: onEvent,
            transfer: transfer, startedAt: .now())
        if !mailbox.post(.start(start)) {
            eventLoop.execute { onEvent(.failure(.shutDown)) }
        }
        return transfer
    }

    /// Fails every transfer in flight with `.cancelled`, stops the curl thread and
    /// waits for it to end. Idempotent; later `execute` calls fail at once.
    public func shutdown() {
        mailbox.close()
        guard let thread = thread.withLock({ thread in
            defer { thread = nil }
            return thread
        }) else { return }
        // The last reference to the client can be dropped on the curl thread itself
        // (a finished transfer's event closure that held it): it cannot join itself,
        // and the loop ends on its own once it sees the closed mailbox.
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
