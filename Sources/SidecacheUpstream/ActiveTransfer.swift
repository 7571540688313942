import CCurl
import CCurlShim
import NIOCore

/// One transfer as the curl thread sees it: its easy handle, the memory curl borrows
/// for the transfer's life, and the head and body state its callbacks drive.
///
/// Confined to the curl thread (deliberately not Sendable). The loop's table of
/// active transfers owns it from `curl_multi_add_handle` until after
/// `curl_multi_remove_handle`, which is exactly the span in which curl may call back
/// into it through the unretained pointers given as WRITEDATA, HEADERDATA, PREREQDATA
/// and PRIVATE.
final class ActiveTransfer {
    /// What started it: a transfer refused its kept-alive connection starts again from it.
    let start: TransferStart
    /// On a connection of its own (`CURLOPT_FRESH_CONNECT`): a second try, after the
    /// kept-alive one it was given had bytes waiting (`CurlSockets`).
    let onFreshConnection: Bool
    /// The consumer's side: shares the flow control, keys the loop's table.
    var handle: UpstreamTransfer { start.transfer }
    let easy: UnsafeMutableRawPointer
    var request: UpstreamRequest { start.request }
    private var headDeadline: NIODeadline { start.startedAt + start.request.headTimeout }
    private let outbox: EventOutbox
    /// The curl thread's connections: the one curl chose is looked at before a request.
    let sockets: CurlSockets

    private var headParser = ResponseHeadParser()
    private(set) var headDelivered = false
    /// Set when the head was refused, or a second sending of the request; the transfer
    /// ends with this failure.
    private(set) var headFailure: UpstreamFailure?
    /// curl has put the request on a connection (`connectionChosen` let it go).
    private var requestWentOut = false
    /// The kept-alive connection curl chose had bytes waiting, so it was refused: the
    /// request never went out and may start again on a new connection.
    private(set) var refusedBusyConnection = false
    /// When the head or the latest body chunk arrived, or curl was last resumed.
    private var lastBodyActivity = NIODeadline.uptimeNanoseconds(0)
    private var finished = false
    /// Its connection is closed when it ends, never handed to the next transfer: the
    /// upstream may have left bytes on it that curl would read as the next request's
    /// answer, and that request may be another user's fill (`leavesConnectionInDoubt`).
    /// The option stays on the handle, so the handle is not reused either.
    private(set) var closesConnection: Bool
    /// The connection the request went out on (`connectionChosen`).
    private var chosen: CurlSockets.Connection?

    /// The request's header lines; curl does not copy the list.
    var headerLines: RequestHeaderLines?
    /// A copy of the request body; curl reads CURLOPT_POSTFIELDS in place.
    var requestBody: UnsafeMutableRawBufferPointer?

    init(_ start: TransferStart, easy: UnsafeMutableRawPointer, outbox: EventOutbox, sockets: CurlSockets, onFreshConnection: Bool) {
        self.start = start
        self.onFreshConnection = onFreshConnection
        self.outbox = outbox
        self.sockets = sockets
        self.easy = easy
        self.closesConnection = Self.leavesConnectionInDoubt(start.request)
    }

    /// A HEAD: an upstream may send a body after its head anyway, later than curl looks.
    /// A request with a body, whatever its method and answer: an upstream that answers
    /// without reading all of it (a handler that never reads one: a static file, a
    /// redirect, an early 401; many frameworks do not drain it) leaves the rest on the
    /// connection, where it is read as the next request sent there, and its answer goes
    /// to whoever sends that one: another user, whose fill stores it for everyone (the
    /// curl-options audit smuggled a GET in a POST's body and had its answer stored under
    /// the next user's key; a partial request there would take the next user's request,
    /// cookies and all, as its own body). Only the upstream knows whether it read the
    /// body, so the next request goes out on a new connection: a connect per write.
    static func leavesConnectionInDoubt(_ request: UpstreamRequest) -> Bool {
        request.method == "HEAD" || request.hasBody
    }


    /// A final head after which the connection may hold bytes of this exchange: a 204
    /// or 304 has no body (RFC 9112 §6.3), whatever it declares, so what an upstream
    /// writes of one anyway comes after the answer, later than curl looks: a bare 204
    /// followed 50 ms on by a body was read as the next request's answer, and stored
    /// under its key (the upstream-answers audit). A 304 comes once per revalidation, a
    /// 204 per write: a new connection for the next request costs less than the risk.
    static func leavesConnectionInDoubt(_ head: UpstreamResponseHead) -> Bool {
        head.status == 204 || head.status == 304
    }

    deinit {
        requestBody?.deallocate()
    }

    /// curl is about to send the request on `connection` (CURLOPT_PREREQFUNCTION); false
    /// refuses it, and curl ends the transfer.
    ///
    /// curl 7.88 sends a request again by itself, on a new connection, when the
    /// kept-alive one it went out on closed before a byte of answer came, request body
    /// and all. The upstream may have acted on the first (applied the charge, then its
    /// worker died): a proxy must not send a request whose method is not idempotent a
    /// second time (RFC 9112 §9.3.1.1; nginx's `proxy_next_upstream` without
    /// `non_idempotent`). Such a transfer fails instead, as sent, so its client gets a
    /// 502 and the purges of a write in doubt run. GET, HEAD, PUT, DELETE and the other
    /// idempotent methods (RFC 9110 §9.2.2) are still sent again.
    func connectionChosen(_ connection: CurlSockets.Connection) -> Bool {
        if requestWentOut && !request.isIdempotent {
            var failure = UpstreamFailure(kind: .protocolError, detail: "connection closed before the answer (a \(request.method) is not sent twice)")
            failure.requestSent = true
            headFailure = failure
            return false
        }
        if sockets.hasInputWaiting(connection) {
            refusedBusyConnection = true
            return false
        }
        requestWentOut = true
        chosen = connection
        return true
    }

    /// Header callback: one line of a head, or of the trailers after the body.
    /// False refuses the answer: curl then aborts the transfer and closes its
    /// connection, and `headFailure` says why.
    func receiveHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        guard !headDelivered else { return true }
        switch headParser.feed(line) {
        case .more:
            return true
        case .interim(let head):
            deliver(.interim(head))
            return true
        case .head(let head):
            headDelivered = true
            if !closesConnection && Self.leavesConnectionInDoubt(head) {
                closesConnection = true
                _ = curlshim_setopt_long(easy, CURLOPT_FORBID_REUSE, 1)   // read when the transfer ends
            }
            // A reset makes the upstream's kernel drop what its application has not read
            // yet: a connection that carried a body waits for the upstream to close first
            // (told `Connection: close`), or an upstream that answered before reading all
            // of it (an ingest that says 200 and reads on) gets it cut short while its
            // client hears 200 (the session's review: a 2 MB PUT arrived with 917 504 bytes).
            if closesConnection, let chosen {
                if request.hasBody { sockets.lingerWhenClosed(chosen) } else { sockets.resetWhenClosed(chosen) }
            }
            lastBodyActivity = .now()
            deliver(.head(head))
            return true
        case .invalid(let why):
            headFailure = UpstreamFailure(kind: .protocolError, detail: why)
            return false
        }
    }

    /// Whether its easy handle may carry another transfer: not after options that would
    /// stay with it (a fresh connection, a closed one).
    var handleReusable: Bool { !onFreshConnection && !closesConnection }

    /// When this transfer fails unless something arrives. Before the head: the head
    /// deadline. After it: the idle body limit, counted from the latest body
    /// activity, and none while paused, so that waiting on a slow consumer is never
    /// mistaken for a silent upstream.
    var deadline: NIODeadline? {
        if !headDelivered { return headDeadline }
        if handle.flow.isPaused { return nil }
        return lastBodyActivity + request.idleBodyTimeout
    }

    /// Why the transfer failed once `deadline` has passed.
    var deadlineFailure: UpstreamFailure {
        headDelivered ? .idleBodyTimeout(request.idleBodyTimeout) : .headTimeout(request.headTimeout)
    }

    /// The loop is about to resume curl after a pause: the idle clock restarts.
    func resumed() {
        lastBodyActivity = .now()
    }

    /// Write callback: returns the bytes taken, or CURL_WRITEFUNC_PAUSE to have curl
    /// keep `bytes` and offer them again after `curl_easy_pause(CURLPAUSE_CONT)`.
    /// curl may call this from inside that `curl_easy_pause`, so it relies on nothing
    /// but this object's own state.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        // Body bytes before a usable head: abort (ends as CURLE_WRITE_ERROR).
        guard headDelivered else { return 0 }
        guard !bytes.isEmpty else { return 0 }
        guard handle.flow.admit(bytes.count) else { return Int(CURL_WRITEFUNC_PAUSE) }
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        lastBodyActivity = .now()
        deliver(.body(buffer))
        return bytes.count
    }

    /// Delivers the terminal event. Every transfer gets exactly one.
    func finish(_ event: UpstreamEvent) {
        precondition(!finished, "a transfer ended twice")
        finished = true
        handle.flow.finish()
        deliver(event)
    }

    private func deliver(_ event: UpstreamEvent) {
        outbox.post(event, of: start.transfer, to: start.eventLoop, start.onEvents)
    }
}
