import CCurl
import CCurlShim
import NIOCore

/// The curl thread's world: the multi handle, the transfers in flight, the easy
/// handles parked for reuse, and the loop that drives them.
///
/// Lives on the curl thread only (not Sendable). Each turn of the loop: run the
/// queued commands, tell curl which sockets turned ready (`curl_multi_socket_action`)
/// and run its due timers, hand out what finished, enforce the head and idle-body
/// deadlines, then sleep (`CurlReadiness`) until a socket is ready, a curl timer or the
/// next deadline is due, or a command wakes it.
final class CurlLoop {
    /// Caps each wait. It already returns for sockets, wake-ups, curl's timers and our
    /// deadlines; the cap only keeps a quiet loop turning now and then.
    private static let maxWait = TimeAmount.seconds(1)
    /// Easy handles kept for reuse; beyond that, finished ones are freed.
    private static let maxSpareHandles = 64

    private let multi: CurlMulti
    private let mailbox: CurlMailbox
    private var active: [ObjectIdentifier: ActiveTransfer] = [:]
    private var spareHandles: [UnsafeMutableRawPointer] = []
    private let outbox = EventOutbox()
    private let origins = CurlOrigins()

    init(multi: CurlMulti, mailbox: CurlMailbox) {
        self.multi = multi
        self.mailbox = mailbox
    }

    func run() {
        var commands: [CurlCommand] = []
        var ready: [ReadySocket] = []
        while true {
            let closed = mailbox.takeAll(into: &commands)
            if closed {
                stop(failing: commands)
                outbox.flush()
                return
            }
            commands.forEach(run)
            var running: Int32 = 0
            for socket in ready {
                _ = curl_multi_socket_action(multi.pointer, socket.socket, socket.events, &running)
            }
            ready.removeAll(keepingCapacity: true)
            runDueTimers()
            collectFinished()
            var wait = sweep(now: .now())
            // Asked after `collectFinished`: a transfer begun again on a new connection is due now.
            var curlWait = -1
            _ = curl_multi_timeout(multi.pointer, &curlWait)
            if curlWait >= 0 { wait = min(wait, Int64(curlWait)) }
            outbox.flush()
            multi.sockets.readiness.wait(milliseconds: Int32(wait), into: &ready)
        }
    }

    /// Runs curl's timers that are due: a transfer just added or a paused one resumed
    /// (curl asks for "now" then), a connect or a resolve to look at again. Any still due
    /// after a few rounds make the next wait return at once.
    private func runDueTimers() {
        var running: Int32 = 0
        for _ in 0..<8 {
            var wait = -1
            _ = curl_multi_timeout(multi.pointer, &wait)
            guard wait == 0 else { return }
            _ = curl_multi_socket_action(multi.pointer, CURL_SOCKET_TIMEOUT, 0, &running)
        }
    }

    private func run(_ command: CurlCommand) {
        switch command {
        case .start(let start):
            begin(start)
        case .cancel(let transfer):
            if let active = active[ObjectIdentifier(transfer)] {
                end(active, with: .failure(.cancelled))
            }
        case .resume(let transfer):
            // curl may call the write callback from inside curl_easy_pause, with the
            // chunk it kept; receiveBody is written for that.
            if let active = active[ObjectIdentifier(transfer)], transfer.flow.resume() {
                active.resumed()
                _ = curl_easy_pause(active.easy, CURLPAUSE_CONT)
            }
        }
    }

    private func begin(_ start: TransferStart, onFreshConnection: Bool = false) {
        let parked = onFreshConnection ? nil : spareHandles.popLast()
        guard let easy = parked ?? curl_easy_init() else {
            start.eventLoop.execute { start.onEvents([.failure(UpstreamFailure(kind: .other, detail: "curl_easy_init failed"))]) }
            return
        }
        let transfer = ActiveTransfer(start, easy: easy, outbox: outbox, sockets: multi.sockets, onFreshConnection: onFreshConnection)
        let configured = transfer.configureEasy(origins: origins, reused: parked != nil)
        guard configured == CURLE_OK else {
            transfer.finish(.failure(UpstreamFailure(
                kind: .other, detail: "curl rejected the request: \(String(cString: curl_easy_strerror(configured)))")))
            curl_easy_cleanup(easy)   // half-configured: never reused
            return
        }
        let added = curl_multi_add_handle(multi.pointer, easy)
        guard added == CURLM_OK else {
            transfer.finish(.failure(UpstreamFailure(
                kind: .other, detail: "curl_multi_add_handle: \(String(cString: curl_multi_strerror(added)))")))
            curl_easy_cleanup(easy)
            return
        }
        active[ObjectIdentifier(start.transfer)] = transfer
    }

    /// The single way out for a transfer in flight: detach it from curl, deliver its
    /// terminal event, park its easy handle. Its memory is freed when it leaves
    /// `active`, after curl can no longer touch it.
    private func end(_ transfer: ActiveTransfer, with event: UpstreamEvent) {
        var event = event
        if case .failure(var failure) = event {
            var sent = 0
            _ = curlshim_getinfo_long(transfer.easy, CURLINFO_REQUEST_SIZE, &sent)
            failure.requestSent = failure.requestSent || sent > 0
            event = .failure(failure)
        }
        _ = curl_multi_remove_handle(multi.pointer, transfer.easy)
        active[ObjectIdentifier(transfer.handle)] = nil
        transfer.finish(event)
        if case .end = event, transfer.handleReusable {
            recycle(transfer.easy)
        } else {
            // A failed or cancelled transfer may leave state behind in its handle
            // (a half-sent request, a paused read): one bad request must not poison
            // the next, so its handle is not reused; nor one with options that stay.
            curl_easy_cleanup(transfer.easy)
        }
    }

    /// Parks a handle whose transfer completed cleanly, options and all: the next
    /// transfer sets every option it depends on (`configureEasy`).
    private func recycle(_ easy: UnsafeMutableRawPointer) {
        if spareHandles.count < Self.maxSpareHandles {
            spareHandles.append(easy)
        } else {
            curl_easy_cleanup(easy)
        }
    }

    private func collectFinished() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi.pointer, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = curlshim_msg_result(message)
            var context: UnsafeMutableRawPointer?
            _ = curlshim_getinfo_ptr(easy, CURLINFO_PRIVATE, &context)
            guard let context else { continue }
            let transfer = Unmanaged<ActiveTransfer>.fromOpaque(context).takeUnretainedValue()
            if code == CURLE_ABORTED_BY_CALLBACK && transfer.refusedBusyConnection {
                // The kept-alive connection had bytes waiting (`CurlSockets`): curl
                // closed it and sent nothing. (A new connection's first request is
                // never refused, so a retry is not refused again.)
                retryOnANewConnection(transfer)
                continue
            }
            let event: UpstreamEvent
            if let refused = transfer.headFailure {
                event = .failure(refused)
            } else if code != CURLE_OK {
                event = .failure(UpstreamFailure(curlCode: code, request: transfer.request, headArrived: transfer.headDelivered))
            } else {
                event = transfer.headDelivered ? .end : .failure(.noHead)
            }
            end(transfer, with: event)
        }
    }

    /// Starts `transfer` again on a connection of its own: the kept-alive one curl chose
    /// had bytes waiting before the request (`CurlSockets`), so curl closed it and sent
    /// nothing; the transfer has delivered nothing either.
    private func retryOnANewConnection(_ transfer: ActiveTransfer) {
        _ = curl_multi_remove_handle(multi.pointer, transfer.easy)
        active[ObjectIdentifier(transfer.handle)] = nil
        curl_easy_cleanup(transfer.easy)
        begin(transfer.start, onFreshConnection: true)
    }

    /// Fails the transfers past their deadline (head or idle body) and returns how
    /// long the next wait may last, in ms.
    private func sweep(now: NIODeadline) -> Int64 {
        var next = now + Self.maxWait
        var expired: [ActiveTransfer] = []
        for transfer in active.values {
            guard let deadline = transfer.deadline else { continue }
            if deadline <= now {
                expired.append(transfer)
            } else if deadline < next {
                next = deadline
            }
        }
        for transfer in expired {
            end(transfer, with: .failure(transfer.deadlineFailure))
        }
        if let closing = multi.sockets.held.sweep(now: now), closing < next { next = closing }
        // Round up: waking a hair early would only spin until the deadline.
        return (next - now).nanoseconds.quotientAndRemainder(dividingBy: 1_000_000).quotient + 1
    }

    /// Shutdown: start nothing new, fail everything in flight, free every handle.
    private func stop(failing commands: [CurlCommand]) {
        for case .start(let start) in commands {
            start.eventLoop.execute { start.onEvents([.failure(.shutDown)]) }
        }
        for transfer in Array(active.values) {
            end(transfer, with: .failure(.shutDown))
        }
        spareHandles.forEach { curl_easy_cleanup($0) }
        spareHandles.removeAll()
        multi.sockets.held.closeAll()
    }
}
