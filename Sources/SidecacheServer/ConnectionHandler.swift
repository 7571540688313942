import NIOCore
import NIOHTTP1
import SidecacheConfig
import SidecacheCore
import SidecacheStore

/// One client connection: collects each request (head, body within limits), runs
/// one exchange at a time, and keeps pipelined requests queued (reading no more once
/// one is) until the answer before them is complete, so answers leave in order.
final class ConnectionHandler: ChannelDuplexHandler, ClientConnection, LookupWaiter {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer?, limit: Int)
        /// An answer is under way: its exchange's, or (nil) a `FreshHit` waiting on Redis.
        case responding(Exchange?)
        case closed
    }

    private let engine: ProxyEngine
    private let connections: ConnectionRegistry
    /// This connection's own copy of the config, refreshed per request head only after
    /// a reload: the request path takes no lock and retains nothing shared for it.
    private var settings: ProxySettings
    private let headClock: HeadClock
    private var state = State.idle
    private var queued = PipelinedRequests()
    /// More than `PipelinedRequests.maxRequests` came: what follows them is dropped, and
    /// the connection closes once the ones queued are answered.
    private var overflowed = false
    private var readHeld = false
    /// Set while `runQueued` runs the queue: an answer finished inside it returns to it.
    private var runningQueue = false
    /// Set while the handler is in the pipeline; answers finishing after it left write nothing.
    private var context: ChannelHandlerContext?
    private var keepAlive = true
    private var draining = false
    /// The client shut its sending side: what it sent is answered, then the connection closes.
    private var inputClosed = false
    private var pendingError: ProxyError?
    /// The body being received's share of `limits.bodyMemory` (kept out of `State`,
    /// whose copies every request pays for), handed to its exchange.
    private var bodyHold: BodyMemory.Hold?
    /// A `FreshHit` whose lookup waits on Redis, this connection being the lookup's waiter
    /// (no closure per strict hit).
    private var waitingHit: FreshHit.Pending?
    /// The decoder parses nothing after the current request: it asked to switch protocols
    /// (an `Upgrade` named in `Connection`: RFC 9110 §7.8), which
    /// the proxy does not do, or bytes behind it did not parse. Its answer closes the
    /// connection, and nothing more is read meanwhile: unparsed bytes would pile up in
    /// the decoder for as long as the answer takes.
    private var readsNoMore = false
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var idleCheck: Scheduled<Void>?
    /// `corked` calls in progress, and whether a flush was held back meanwhile.
    private var corks = 0
    private var flushHeld = false

    init(engine: ProxyEngine, connections: ConnectionRegistry, headClock: HeadClock, channel: any Channel) {
        self.engine = engine
        self.connections = connections
        self.eventLoop = channel.eventLoop
        self.allocator = channel.allocator
        self.settings = engine.settings.copy()
        self.headClock = headClock
    }

    // MARK: ClientConnection

    let allocator: ByteBufferAllocator
    let eventLoop: any EventLoop
    private(set) var remoteAddress: String?
    var closesAfterResponse: Bool { !keepAlive || draining }
    var isDraining: Bool { draining }

    func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func writeAndFlush(_ buffer: ByteBuffer, written: (@Sendable () -> Void)?) {
        guard let context else {
            written?()
            return
        }
        let promise = written.map { written in
            let promise = eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { [self] _ in
                lastActivity = eventLoop.now   // the client is taking the answer: not idle
                written()
            }
            return promise
        }
        if corks > 0 {
            context.write(wrapOutboundOut(buffer), promise: promise)
            flushHeld = true
        } else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: promise)
        }
    }

    func corked(_ body: () -> Void) {
        corks += 1
        body()
        corks -= 1
        if corks == 0 && flushHeld {
            flushHeld = false
            context?.flush()
        }
    }

    func responseFinished(close: Bool) {
        guard case .responding = state else { return }
        answered(close: close)
    }

    /// A request's answer is complete (its exchange's, or a `FreshHit`).
    private func answered(close: Bool) {
        lastActivity = eventLoop.now
        if close || !keepAlive || draining {
            closeAfterFlush()
            return
        }
        state = .idle
        headClock.betweenRequests = true
        headClock.headStarted = nil
        runQueued()
    }

    /// Runs the queued requests in order until one waits for its answer, the output backs
    /// up, or the queue is empty; then reads again. An answer given at once (a hit)
    /// finishes inside `receive` and calls `responseFinished`, which comes back here: that
    /// nested call returns at once and this loop goes on, so a queue of any depth runs
    /// without one stack frame per request. While the client does not take its answers
    /// (the channel is not writable) nothing more is answered or read:
    /// `channelWritabilityChanged` resumes.
    private func runQueued() {
        guard !runningQueue else { return }
        runningQueue = true
        defer { runningQueue = false }
        while !queued.isEmpty {
            guard isWritable else { return }
            switch state {
            case .idle, .receiving: receive(queued.removeFirst())
            case .responding, .closed: return
            }
        }
        if case .closed = state { return }
        // Bytes that did not parse came after the answer's head had gone out: the error
        // answers them now, once every request before them is answered — also when they
        // were in the body of the last one queued, which can then never complete.
        if let error = pendingError {
            switch state {
            case .idle, .receiving:
                pendingError = nil
                reject(error)
                return
            case .responding, .closed:
                break
            }
        }
        if inputClosed || overflowed, case .idle = state {
            closeAfterFlush()
            return
        }
        if readHeld && isWritable {
            readHeld = false
            context?.read()
        }
    }

    private var isWritable: Bool { context?.channel.isWritable ?? true }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remoteAddress = context.channel.remoteAddress?.ipAddress
        lastActivity = context.eventLoop.now
        scheduleIdleCheck()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        idleCheck?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .responding(let exchange?) = state, exchange.clientGone() {
            connections.keepPlace(of: context.channel, until: exchange)   // its mutation runs on
        }
        state = .closed
        bodyHold = nil
        idleCheck?.cancel()
        context.fireChannelInactive()
    }

    /// A part is queued behind an answer under way, behind other queued parts, and (a
    /// request's head) while the client is not taking its answers: requests read in one
    /// go are not all answered into the output buffer of a client that reads none of them.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if overflowed { return }
        let part = unwrapInboundIn(data)
        lastActivity = context.eventLoop.now
        if answersAhead {
            queue(part)
        } else if case .head = part, !context.channel.isWritable {
            queue(part)
        } else {
            receive(part)
        }
    }

    /// An answer is under way, or requests wait for theirs: what arrives now waits its turn.
    private var answersAhead: Bool {
        if case .responding = state { return true }
        return !queued.isEmpty
    }

    /// A queued head is whole: it waits on this connection's answers, not on the client,
    /// so the header timeout (`HeadClock`) is over for it.
    private func queue(_ part: HTTPServerRequestPart) {
        guard queued.append(part) else { return overflow() }
        if case .head = part {
            headClock.headStarted = nil
            headClock.betweenRequests = false
        }
    }

    /// As when a pipelining client's connection closes early (RFC 9112 §9.3.2): the
    /// requests queued are answered, the ones after them are not, and the client sends
    /// those again on a new connection.
    private func overflow() {
        overflowed = true
        readsNoMore = true
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            lastActivity = context.eventLoop.now
            switch state {
            case .idle, .receiving: runQueued()
            case .responding, .closed: break   // the answer's end runs the queue
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Reading goes on while an answer is under way, so that a connection's read
    /// interest is not dropped and re-armed (two `epoll_ctl` calls) on every request
    /// that waits for the upstream or Redis; it stops once a pipelined request is
    /// queued behind the answer, and while answers back up unread, which bounds what one
    /// client can make the proxy hold.
    func read(context: ChannelHandlerContext) {
        if case .responding = state, !queued.isEmpty || readsNoMore {
            readHeld = true   // the queued request waits until this answer is out
        } else if !context.channel.isWritable {
            readHeld = true   // the client is not taking its answers: read on once it does
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Past the queue bound nothing is answered: an error there would be read as the
        // answer to the first request dropped.
        if overflowed { return }
        guard error is HTTPParserError else {
            // More bytes behind a malformed request: the decoder refuses them, and the
            // error already pending answers after the requests before it.
            if pendingError != nil, case ByteToMessageDecoderError.dataReceivedInErrorState = error { return }
            context.close(promise: nil)
            return
        }
        let proxyError: ProxyError = (error as? HTTPParserError) == .headerOverflow
            ? .headersTooLarge(limit: settings.config.limits.headerBytes)
            : .badRequest("malformed HTTP request: \(error)")
        // Behind an answer under way or requests queued: those are answered first, then
        // the error, which closes the connection (nothing after a malformed request can
        // be trusted to be framed right).
        if answersAhead {
            pendingError = proxyError
            readsNoMore = true
        } else {
            reject(proxyError)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            if case .idle = state, queued.isEmpty { closeAfterFlush() }
            return
        }
        if event is DrainEvent {
            draining = true
            if case .idle = state, queued.isEmpty { closeAfterFlush() }   // else after the answer under way
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Requests

    /// One part of a request, in the order the decoder gives them. A switch on the part
    /// and then the state, not on a tuple of both: the tuple was copied and destroyed
    /// through the runtime's generic value witnesses, about 640 instructions a request.
    private func receive(_ part: HTTPServerRequestPart) {
        if case .closed = state { return }
        switch part {
        case .head(let received):
            guard case .idle = state else { return reject(.badRequest("unexpected request part")) }
            begin(received)
        case .body(let chunk):
            guard case .receiving(let head, var body, let limit) = state else { return reject(.badRequest("unexpected request part")) }
            let total = (body?.readableBytes ?? 0) + chunk.readableBytes
            if total > limit {
                reject(.payloadTooLarge(limit: limit))
                return
            }
            let hold = bodyHold ?? engine.bodies.receiving(within: settings.config.limits.bodyMemory) { [channel = context?.channel] in
                channel?.close(promise: nil)
            }
            guard hold.grow(to: total) else {
                reject(.overloaded(limit: settings.config.limits.bodyMemory))
                return
            }
            bodyHold = hold
            state = .idle   // drop our reference so the append does not copy
            if body == nil { body = chunk } else { body!.writeImmutableBuffer(chunk) }
            state = .receiving(head, body, limit: limit)
        case .end:
            guard case .receiving(let head, let body, _) = state else { return reject(.badRequest("unexpected request part")) }
            bodyHold?.received()
            guard body == nil else { return startExchange(head, body: body, known: nil) }
            switch FreshHit.answer(head, engine: engine, settings: settings, connection: self) {
            case .answered(let close):
                answered(close: close)
            case .waiting(let step, let pending):
                state = .responding(nil)
                waitingHit = pending
                step.start(self)
            case .notAnswered(let known):
                startExchange(head, body: nil, known: known)
            }
        }
    }

    private func startExchange(_ head: HTTPRequestHead, body: ByteBuffer?, known: Exchange.Known?) {
        let exchange = Exchange(engine: engine, settings: settings, connection: self, head: head, body: body, bodyHold: bodyHold,
                                parsed: known?.target)
        bodyHold = nil
        state = .responding(exchange)
        exchange.start(known: known)
    }

    // MARK: LookupWaiter (a `FreshHit` waiting on Redis)

    /// Asked only while a hit waits: `waitingHit` is set before its step starts and taken
    /// when its one answer comes, and the step asks for the scopes before answering. The
    /// empty list is never read (a mutation returning it here fails 55 expectations).
    var lookupScopes: [UInt64] { waitingHit?.context.scopeIDs ?? [] }

    /// The lookup a `FreshHit` waited on is in: answered there, or by an exchange going on
    /// from it. A client that left meanwhile is reported as an exchange reports one whose
    /// lookup was under way (499, a miss: nothing from the cache reached it), once the
    /// lookup is in.
    func lookupAnswered(_ found: Lookup) {
        guard let pending = waitingHit.take() else { return }
        guard case .responding(nil) = state else {
            engine.finished(pending.record(status: 499, outcome: .miss))
            return
        }
        if let close = FreshHit.answer(found, pending, now: engine.clock.now(), engine: engine, settings: settings, connection: self) {
            answered(close: close)
        } else {
            startExchange(pending.head, body: nil, known: .found(pending.context, found))
        }
    }

    /// A request head on an idle connection: checked, then its body (if any) awaited.
    private func begin(_ received: HTTPRequestHead) {
        headClock.betweenRequests = false
        headClock.headStarted = nil
        keepAlive = RequestHead.keepsAlive(received)
        settings = engine.settings(since: settings)
        var head = received
        var framing = RequestHead.Framing()
        if let error = RequestHead.check(&head, framing: &framing, limits: settings.config.limits) {
            reject(error, of: received)
            return
        }
        // Only a request with framing has a body (RFC 9112 §6.3): the others (most
        // GETs) skip the route lookup that finds its limit.
        let limit = framing.contentLength == nil && !framing.transferEncoding ? 0
            : settings.config.routes.maxRequestBody(method: head.method.rawValue, path: RequestTarget(head.uri)?.path,
                                                    defaults: settings.config.defaults)
        if let length = framing.contentLength.flatMap({ Int($0) }), length > limit {
            reject(.payloadTooLarge(limit: limit), of: received)
            return
        }
        if framing.switchesProtocol {
            keepAlive = false
            readsNoMore = true
        }
        // RFC 9110 §10.1.1: an HTTP/1.0 client's expectation is ignored (it would read the 100 as the answer).
        if head.version.minor >= 1, framing.expect?.lowercased() == "100-continue" {
            var cont = allocator.buffer(capacity: 25)
            cont.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
            context?.writeAndFlush(wrapOutboundOut(cont), promise: nil)
        }
        state = .receiving(head, nil, limit: limit)
    }

    /// Answers with the proxy's own error and closes: what follows a refused request
    /// cannot be trusted to be framed right. The rest of it (a body past the limit) may
    /// still be on its way: the close lingers (`LingeringClose`).
    /// `of`: the refused request's head, when it was read.
    private func reject(_ error: ProxyError, of received: HTTPRequestHead? = nil) {
        if case .closed = state { return }
        // Refused before it became an exchange, it is still a request: one access-log
        // line and one count (nginx logs its 400s), its method and target when its head was read.
        let head: HTTPRequestHead? = if case .receiving(let head, _, _) = state { head } else { received }
        engine.finished(ExchangeRecord(method: head.map { wireMethodName($0.method.rawValue) } ?? "-", target: head?.uri ?? "-",
                                       route: nil, status: error.status, outcome: .bypass, micros: 0))
        state = .closed
        queued.removeAll()
        bodyHold = nil
        flushThenClose(error.encode(allocator: allocator, close: true, now: engine.clock.now()), lingering: true)
    }

    /// After the last answer. Requests dropped past the queue bound may still be arriving:
    /// that close lingers; a connection idle, draining or asked to close has nothing more
    /// to send, and closes at once.
    private func closeAfterFlush() {
        state = .closed
        lastActivity = eventLoop.now   // the flush gets one more idle period, then the timer cuts it
        flushThenClose(allocator.buffer(capacity: 0), lingering: overflowed)
    }

    private func flushThenClose(_ bytes: ByteBuffer, lingering: Bool) {
        context?.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { [self, context] result in
            guard let context else { return }
            if lingering, case .success = result {
                LingeringClose.begin(context, inputClosed: inputClosed)
            } else {
                context.close(promise: nil)
            }
        }
    }

    /// One timer per connection, never re-armed per request; `ConnectionTimer` decides.
    private func scheduleIdleCheck() {
        settings = engine.settings(since: settings)
        let limits = settings.config.limits
        let idle = TimeAmount.milliseconds(max(1, limits.idleTimeout.milliseconds))
        let headLimit = TimeAmount.milliseconds(max(1, limits.headerTimeout.milliseconds))
        let loop = eventLoop
        let deadline = ConnectionTimer.nextCheck(now: loop.now, lastActivity: lastActivity, idle: idle, headLimit: headLimit)
        idleCheck = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            switch ConnectionTimer.decide(phase, now: loop.now, lastActivity: lastActivity, headStarted: headClock.headStarted,
                                          idle: idle, headLimit: headLimit) {
            case .closeAfterFlush:
                closeAfterFlush()
                scheduleIdleCheck()   // a final flush the client never takes is cut later
            case .cutOff:
                context?.close(promise: nil)
            case .next:
                scheduleIdleCheck()
            }
        }
    }

    private var phase: ConnectionTimer.Phase {
        switch state {
        case .idle: .idle
        case .receiving: .receiving
        case .responding: .responding(writable: context?.channel.isWritable ?? false)
        case .closed: .closing
        }
    }
}

/// Sent to every connection when the proxy drains: finish the current answer, then close.
struct DrainEvent: Sendable {}
