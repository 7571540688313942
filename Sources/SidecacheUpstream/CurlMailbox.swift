import NIOCore
import Synchronization

/// What other threads ask of the curl thread.
enum CurlCommand: Sendable {
    case start(TransferStart)
    case cancel(UpstreamTransfer)
    /// The consumer drained below the low-water mark of a paused transfer.
    case resume(UpstreamTransfer)
}

/// Everything the curl thread needs to begin a transfer. A class: it goes from the
/// caller through the mailbox into the transfer curl runs, and each copy of it as a
/// struct cost a retain and a release of every field (some 1 000 instructions per
/// forwarded request).
final class TransferStart: Sendable {
    let request: UpstreamRequest
    let eventLoop: any EventLoop
    let onEvents: @Sendable ([UpstreamEvent]) -> Void
    let transfer: UpstreamTransfer
    /// When `execute` was called: the head timeout counts from here.
    let startedAt: NIODeadline

    init(request: UpstreamRequest, eventLoop: any EventLoop, onEvents: @escaping @Sendable ([UpstreamEvent]) -> Void,
         transfer: UpstreamTransfer, startedAt: NIODeadline) {
        self.request = request
        self.eventLoop = eventLoop
        self.onEvents = onEvents
        self.transfer = transfer
        self.startedAt = startedAt
    }
}

/// The only way into the curl thread: a locked queue of commands plus a wake-up
/// (`CurlMulti.wakeup()`), so a loop asleep in its wait sees them at once (a wake-up
/// sent while it is not waiting makes its next wait return immediately).
final class CurlMailbox: Sendable {
    private struct State {
        var commands: [CurlCommand] = []
        var closed = false
        /// A wake-up is queued on an event loop (`post(_:from:)`) and not sent yet.
        var wakeQueued = false
    }

    private let state = Mutex(State())
    private let multi: CurlMulti

    init(multi: CurlMulti) {
        self.multi = multi
    }

    /// Queues `command` for the curl thread. False once the mailbox is closed: the
    /// loop has stopped or is stopping, and nothing will ever run the command.
    ///
    /// Only the command that finds the queue empty wakes the loop: until the loop takes
    /// the queue, that wake-up (sent after its command was queued) is still pending and
    /// covers every command queued behind it. A busy loop then costs its posters no
    /// system call.
    ///
    /// Posted on event loop `loop` (a forwarded request's start), that wake-up waits for
    /// the end of the loop's pass: a curl thread woken at once may take the CPU from the
    /// event loop in the middle of the requests it is reading, and run a turn for a few
    /// of them. Woken once the pass's reads are done (a task on `loop`), it takes them
    /// all: fills and pass-throughs 2–5 % less CPU (BENCHMARKS.md, issue 13). Commands
    /// posted meanwhile, from any thread, wait for that wake-up.
    @discardableResult
    func post(_ command: CurlCommand, from loop: (any EventLoop)? = nil) -> Bool {
        let deferring = loop?.inEventLoop ?? false
        let (posted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            state.commands.append(command)
            guard state.commands.count == 1, !state.wakeQueued else { return (true, false) }
            state.wakeQueued = deferring
            return (true, true)
        }
        guard wake else { return posted }
        if let loop, deferring {
            loop.execute { self.sendQueuedWake() }
        } else {
            multi.wakeup()
        }
        return posted
    }

    private func sendQueuedWake() {
        state.withLock { $0.wakeQueued = false }
        multi.wakeup()
    }

    /// Refuses all later commands and wakes the loop so it stops. Commands already
    /// queued are still handed out by the next `takeAll(into:)`.
    func close() {
        state.withLock { $0.closed = true }
        multi.wakeup()
    }

    /// Curl thread: every queued command, in order, swapped into `taken`, and whether the
    /// loop must stop. `taken` is emptied first and its room becomes the queue's: a queue
    /// left empty without room allocated again on the next post, an allocation per
    /// forwarded request.
    func takeAll(into taken: inout [CurlCommand]) -> Bool {
        taken.removeAll(keepingCapacity: true)
        return state.withLock { state in
            swap(&state.commands, &taken)
            return state.closed
        }
    }
}
