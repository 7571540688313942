import Synchronization

/// A started transfer, as its consumer holds it. Every method may be called from any
/// thread; each turns into at most one command for the curl thread.
public final class UpstreamTransfer: Sendable {
    let flow: BodyFlowControl
    private let mailbox: CurlMailbox
    private let cancelRequested = Atomic<Bool>(false)

    init(mailbox: CurlMailbox, streamed: StreamedBytes) {
        self.mailbox = mailbox
        self.flow = BodyFlowControl(streamed: streamed)
    }

    /// The consumer has finished with `bytes` of body delivered earlier (for example,
    /// written them to the client socket). Delivery stops while more than 1 MiB is
    /// outstanding (64 KiB while the client's streams are past their budget in all,
    /// `UpstreamClient.limitStreamedBytes`) and resumes below 256 KiB, so call this for
    /// every body byte.
    public func consumed(_ bytes: Int) {
        guard bytes > 0 else { return }
        if flow.consume(bytes) {
            mailbox.post(.resume(self))
        }
    }

    /// Takes `bytes` as consumed now, before the consumer has written them, when the
    /// transfer has ended and holds no more than 64 KiB unconsumed: then nothing waits
    /// on their write (no resume, no shared budget), and a small answer is written
    /// without a write promise (some 5 000 instructions of a forwarded request).
    /// False: call `consumed(_:)` once they are written.
    public func consumedAtOnceIfEnded(_ bytes: Int) -> Bool {
        flow.consumeAtOnceIfFinished(bytes)
    }

    /// Aborts the transfer: it ends with `.failure(kind: .cancelled)` unless it had
    /// already ended. Idempotent.
    public func cancel() {
        guard !cancelRequested.exchange(true, ordering: .relaxed) else { return }
        mailbox.post(.cancel(self))
    }
}
