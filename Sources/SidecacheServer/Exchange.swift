import NIOCore
import NIOHTTP1
import SidecacheConfig
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// One request, from classification to the last byte of its answer, on the connection's
/// event loop. Where the request stands is `machine`'s (a value: events in, actions
/// out); this class feeds it what the store, the flight registry and the upstream
/// report, and carries out its actions. Answers are written by `writer` only.
final class Exchange {
    let engine: ProxyEngine
    /// The config this exchange runs under, start to end (a reload does not change it midway).
    let settings: ProxySettings
    let connection: any ClientConnection
    let head: HTTPRequestHead
    let body: ByteBuffer?
    /// `body`'s share of `limits.bodyMemory`, given back when the exchange goes.
    private let bodyHold: BodyMemory.Hold?
    let method: String
    let target: RequestTarget?
    let writer: ResponseWriter
    /// When the exchange began, on the monotonic clock NIO reads (whole nanoseconds: its
    /// duration in microseconds is one division, where a `Duration`'s took 128-bit ones).
    let started = NIODeadline.now()

    /// A client's request, or the proxy's own refresh of an entry (background
    /// revalidation, warming, the admin API), which always fetches and stores.
    enum Purpose { case client, refresh }
    let purpose: Purpose

    var machine: ExchangeStateMachine
    /// The transfer under way, to pace (`consumed`) and cancel.
    var transfer: UpstreamTransfer?
    /// Where the fill stands against purges, taken when its fetch starts.
    var fillGuard: FillGuard?
    /// The flight this exchange leads, if it leads one.
    var flight: UInt64?
    /// The cross-instance lease this exchange holds while it fetches, if any.
    var leaseToken: String?
    /// A background revalidation: the stale entry it refreshes.
    var replacing: CacheEntry?
    /// The bound on waiting for another request's fill.
    var waitTimer: Scheduled<Void>?

    // Reported once, when the exchange finishes: metrics and the access log.
    var route: Route?
    var outcome = CacheOutcome.bypass
    var status = 0
    /// Reported to the metrics and the access log (`record`).
    private var reported = false
    var upstreamStarted: NIODeadline?
    /// This mutation's purges have started (on its answer, or in doubt without one).
    var purgeStarted = false
    /// They wait on Redis: a client leaving now leaves them running (`clientGone`).
    var purgeRunning = false
    /// The client left while this mutation awaited its answer, which still decides its purges.
    var clientLeft = false
    /// Called once, when the mutation its client left has run its purges (or met its
    /// end without an answer): the connection's place is held until then.
    var onOrphanSettled: (() -> Void)?
    /// This exchange's fill asked the upstream without validators: a 304 cannot answer it.
    var unconditionalFill = false
    /// Its upstream request was a fill's, sent without the client's preconditions
    /// (`ForwardHeaders.conditionals`): the proxy evaluates them on the answer.
    var sentAsFill = false

    /// The request as warnings and errors name it: method and path, a query shown as
    /// `?…`. Queries carry credentials (`?access_token=`, signed URLs), and logs are kept
    /// longer and read more widely than requests. (The access log, opt-in, records the
    /// whole target as forwarded, as nginx's does: an absolute-form target in origin form.)
    var requestForLog: String {
        let path = head.uri.firstIndex(of: "?").map { head.uri[..<$0] + "?…" } ?? head.uri[...]
        // A line's length bounded too: a client's 7 KB paths made each line 7 KB.
        return "\(method) " + (path.utf8.count > Self.loggedPathBytes ? String(decoding: path.utf8.prefix(Self.loggedPathBytes), as: UTF8.self) + "…" : path)
    }
    static let loggedPathBytes = 512

    /// The purge scopes of the cache key's entries, computed once and only on a miss.
    lazy var scopeIDs: [UInt64] = machine.context?.scopeIDs ?? []

    /// `parsed`: the target as `FreshHit` parsed it, when it did.
    init(engine: ProxyEngine, settings: ProxySettings, connection: any ClientConnection, head: HTTPRequestHead, body: ByteBuffer?,
         bodyHold: BodyMemory.Hold? = nil, purpose: Purpose = .client, parsed: RequestTarget? = nil) {
        self.engine = engine
        self.settings = settings
        self.connection = connection
        self.head = head
        self.body = body
        self.bodyHold = bodyHold
        self.method = wireMethodName(head.method.rawValue)
        self.target = parsed ?? RequestTarget(head.uri)
        self.purpose = purpose
        self.writer = ResponseWriter(connection: connection, isHEAD: head.method == .HEAD, version: head.version, request: head.headers)
        self.machine = ExchangeStateMachine(request: head.headers, isHEAD: head.method == .HEAD, version: head.version,
                                            allocator: connection.allocator, leasesFills: engine.store.isShared)
    }

    var finished: Bool { machine.isFinished }

    /// A POST read on a `key.body` route: its body is part of the key, and its fill is
    /// the same POST.
    var isBodyRead: Bool { method == "POST" }

    /// What the request adds to its key on a `key.body` route.
    private var requestBodyKey: RequestBodyKey {
        let contentType = head.headers.first(name: "content-type")
        guard let body else { return RequestBodyKey(method: method, contentType: contentType, body: UnsafeRawBufferPointer(start: nil, count: 0)) }
        return body.withUnsafeReadableBytes { RequestBodyKey(method: method, contentType: contentType, body: $0) }
    }

    /// The client takes gzip (its `Accept-Encoding`).
    var acceptsGzip: Bool { writer.acceptsGzip }

    /// What was learned of a client's request before its exchange began (`FreshHit`),
    /// so that nothing is worked out twice.
    enum Known {
        /// How the request was classified, and its target.
        case plan(RequestClass, RequestTarget)
        /// A cache route's request (its key), and what its lookup found.
        case found(CacheContext, Lookup)

        var target: RequestTarget {
            switch self {
            case .plan(_, let target): target
            case .found(let context, _): context.target
            }
        }
    }

    /// Paths are sent byte for byte (`PATH_AS_IS`), so only the proxy can keep them
    /// below the upstream's base path.
    static func leavesBasePath(_ target: RequestTarget, _ config: Config) -> Bool {
        !config.upstream.basePath.isEmpty && DotSegments.climb(in: target.path)
    }

    /// `known`: what `FreshHit` learned, for a request it found valid (its target as
    /// the checks below want it).
    func start(known: Known? = nil) {
        guard target != nil || (head.uri == "*" && head.method == .OPTIONS) else {
            run(machine.failAtOnce(.badRequest("the request target must be a path starting with /")))
            return
        }
        if let target, Self.leavesBasePath(target, settings.config) {
            run(machine.failAtOnce(.badRequest("a path with a .. segment would leave the upstream's base path")))
            return
        }
        let plan: RequestClass
        switch known {
        case .found(let context, let found):
            return useCache(context, found: found)
        case .plan(let known, _):
            plan = known
        case nil:
            let hasBody = body != nil || head.headers.contains(name: "transfer-encoding")
            func classify(_ bytes: UnsafeRawBufferPointer?) -> RequestClass {
                RequestClassifier.classify(method: method, target: target, headers: head.headers, hasBody: hasBody, body: bytes,
                                           routes: settings.config.routes)
            }
            plan = body.map { $0.withUnsafeReadableBytes { classify($0) } } ?? classify(nil)
        }
        switch plan {
        case .cache(let route, let identity):
            guard let target else {   // classify caches origin-form targets only
                run(machine.forward(marker: ForwardMarker.pass.cacheStatus))
                return
            }
            useCache(route, target, identity: identity)
        case .verify(let route, let token):
            self.route = route
            verifyThenUseCache(route, token: token)
        case .bypass(let route, let reason):
            self.route = route
            engine.metrics.bypass(route: route.name, reason: reason)
            run(machine.forward(marker: ForwardMarker.bypass(reason).cacheStatus))
        case .pass:
            run(machine.forward(marker: ForwardMarker.pass.cacheStatus))
        }
    }

    /// Looks the request up under its key (`identity`: the identity value or the
    /// verified claims' fingerprint).
    func useCache(_ route: Route, _ target: RequestTarget, identity: Substring?) {
        useCache(CacheContext(route: route, target: target, identity: identity, request: head,
                              body: route.keyBody ? requestBodyKey : nil, engine: engine, settings: settings))
    }

    /// `found`: the lookup, when `FreshHit` made it.
    private func useCache(_ context: CacheContext, found: Lookup? = nil) {
        route = context.route
        if let found {
            _ = machine.start(context)   // `.lookup`: made already
            lookupAnswered(found, now: engine.clock.now())
        } else if purpose == .refresh {
            // A spelling folded into another's key is never filled (`respelled`): a
            // refresh or warm of `;jsessionid=…` stored that session's answer for everyone.
            guard !context.respelled else {
                return run(machine.failAtOnce(.badRequest(
                    "the path is spelled as its route folds into another path's entry (escapes, ;parameters): refresh its plain spelling")))
            }
            refresh(context)
        } else {
            run(machine.start(context))
        }
    }

    /// Carries out what the machine decided.
    func run(_ action: ExchangeStateMachine.Action) {
        if clientLeft && sentAsFill { return runUnanswered(action) }
        switch action {
        case .none:
            break
        case .lookup:
            lookup()
        case .answerFromCache(let answer):
            // A leader that waited on another instance's fill answers from it: its own
            // waiters find it stored too.
            if let land = answer.land ?? (flight != nil ? .stored : nil) { landFlight(land) }
            answerFromCache(answer.entry, staleDetail: answer.staleDetail, revalidated: answer.revalidated)
            if answer.drop, let key = machine.context?.key { engine.store.drop(key, on: connection.eventLoop) }
            // Not through a spelling folded into another's key: the refresh would fetch it
            // as spelled and store the upstream's answer to it under the plain one's key.
            if answer.revalidate, machine.context?.respelled != true {
                engine.revalidate(head: head, body: isBodyRead ? body : nil, client: connection.remoteAddress, replacing: answer.entry,
                                  on: connection.eventLoop)
            }
        case .enterFlight:
            enterFlight()
        case .waitForFill(let bound):
            waitForFill(bound: bound)
        case .takeLease:
            takeLease()
        case .waitForPeer(let bound):
            waitForPeer(bound: bound)
        case .fill(let start):
            if let waiter = start.leaving { stopWaiting(waiter) }
            fill(start, engine.store.beginFill(shared: start.generations))
        case .forward:
            forward()
        case .consumed(let bytes):
            transfer?.consumed(bytes)
        case .sendHead(let start):
            sendHead(start)
        case .sendBody(let chunk, let framing):
            writer.body(chunk, framing: framing, written: acknowledgement(of: chunk.readableBytes))
        case .endBody(let framing):
            finish(close: writer.end(framing))
        case .commit(let filled):
            commit(filled)
        case .purge(let h):
            purgeThenAnswer(h)
        case .answerInstead(let error, let mark, let stale, let cancelTransfer, let land):
            if cancelTransfer { transfer?.cancel() }
            landFlight(land)
            guard let stale, let context = machine.context else { return fail(error, mark: mark) }
            let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
            engine.store.mayStillServe(stale, key: context.key, scopes: context.scopeIDs, now: engine.clock.now(),
                                       on: connection.eventLoop).whenReady { serve in
                let exchange = me.value
                if serve { exchange.answerFromCache(stale, staleDetail: "stale-if-error") } else { exchange.fail(error, mark: mark) }
            }
        case .fail(let error, let mark):
            fail(error, mark: mark)
        case .cut:
            finish(close: true)
        case .abandon(let waiter):
            transfer?.cancel()
            if let waiter { stopWaiting(waiter) }
            landFlight(.queueAgain)
        }
    }

    /// Redis trouble during this request, reported in one place: the request went on
    /// without L2 (answered from L1 or the upstream); the route counts a `store-error`
    /// bypass of the shared tier and the store an error, and the log says what happened.
    func storeTrouble(_ trouble: StoreTrouble) {
        if trouble.kind == .badSignature {
            // Not Redis failing: a value this instance did not sign, refused (a miss
            // whose fill overwrites it). Counted on its own, for the operator to look into.
            engine.metrics.signatureFailure()
            engine.logger.warning("entry in redis without this store.signingKey's signature: treated as a miss",
                                  metadata: ["route": "\(route?.name ?? "-")"])
            return
        }
        engine.metrics.storeError(store: "redis")
        if let route { engine.metrics.bypass(route: route.name, reason: .storeError) }
        if trouble.kind == .corruptEntry {
            engine.logger.warning("undecodable entry in redis (foreign, corrupt or badly framed): treated as a miss",
                                  metadata: ["route": "\(route?.name ?? "-")"])
        } else {
            engine.logger.debug("redis not used for this request", metadata: ["route": "\(route?.name ?? "-")", "why": "\(trouble)"])
        }
    }

    /// Answers with the proxy's own JSON error; the metrics count it as its `X-Cache` says
    /// (a waiter's or an only-if-cached 504 is a miss, not a bypass without a reason).
    func fail(_ error: ProxyError, mark: CacheMark?) {
        status = error.status
        if let mark { outcome = mark.xCache }
        finish(close: writer.error(error, mark: mark, now: engine.clock.now()))
    }

    /// The answer is written: report it and hand the connection back.
    func finish(close: Bool) {
        machine.answered()
        landFlight(.fetchYourself(uncacheable: false))   // a leader that answered without landing frees its waiters
        record(status: status, outcome: outcome)
        connection.responseFinished(close: close)
    }

    /// Reports the request to the metrics and the access log, once (an answer that was
    /// on its way when the client left is not reported again). Requests count, the
    /// proxy's own refreshes (warming, revalidation, admin) do not.
    private func record(status: Int, outcome: CacheOutcome) {
        guard purpose == .client, !reported else { return }
        reported = true
        engine.finished(ExchangeRecord(method: method, target: head.uri, route: route?.name, status: status,
                                       outcome: outcome, micros: (NIODeadline.now() - started).nanoseconds / 1000))
    }

    /// Reports a request whose client left before its answer as nginx does, 499 ("client
    /// closed request"): an operator counting requests, or looking for one in the access
    /// log, saw nothing of it. One whose head was out keeps its status, as nginx's. One
    /// still looking its entry up or waiting on a fill counts as a miss: nothing from the
    /// cache reached it.
    private func recordLeft() {
        record(status: status == 0 ? 499 : status, outcome: outcome == .bypass && machine.context != nil ? .miss : outcome)
    }

    /// The client went away: stop the upstream transfer, nothing more to write. A
    /// mutation the upstream is working on runs on to its answer's head, whose status
    /// decides its purges as if the client were still there: cancelled, the upstream
    /// might apply it with nothing purged, and purging without an answer would let any
    /// client purge anything by sending a mutation and leaving. One whose purges wait on
    /// Redis runs on until they ran. A fill whose answer may still be stored runs on to
    /// store it, as Varnish's does: cancelled, its waiters queued again behind another
    /// fetch, and clients that reset after each request sent one to the upstream apiece
    /// (13 of them, 15 upstream requests for one key). True when it runs on
    /// (`onOrphanSettled` then says when it is done); it holds its connection's place
    /// until then, so leaving cannot start more fetches than the limit admits.
    ///
    /// Not a fill cut by the drain's deadline: the drain waits on what runs on, for a
    /// mutation's purge to follow its write; a fill would only hold the exit longer
    /// (the review's: a slow GET alone kept the process 10 s more).
    func clientGone() -> Bool {
        if mutationAwaitsHead || purgeRunning || (machine.fillMayStore && !connection.isDraining) {
            clientLeft = true
            return true
        }
        run(machine.clientGone())
        recordLeft()
        return false
    }

    /// A fill whose client left (`clientGone`) goes on while its answer may be stored;
    /// anything that would be written to the client ends it instead, landing its flight
    /// as that answer would have.
    private func runUnanswered(_ action: ExchangeStateMachine.Action) {
        switch action {
        case .none:
            return
        case .consumed(let bytes):
            transfer?.consumed(bytes)
            return
        case .commit(let filled):
            commit(filled)   // its answer, once committed, is written to no one
            return
        case .answerFromCache(let answer):
            landFlight(answer.land ?? .stored)
            if answer.drop, let key = machine.context?.key { engine.store.drop(key, on: connection.eventLoop) }
        case .sendHead(let start):
            landFlight(start.land ?? .fetchYourself(uncacheable: false))
        case .answerInstead(_, _, _, _, let land):
            landFlight(land)
        default:
            break
        }
        transfer?.cancel()
        machine.answered()
        landFlight(.queueAgain)
        orphanSettled()
    }

    /// The mutation whose client left is done with (`clientGone`).
    func orphanSettled() {
        guard clientLeft, let settled = onOrphanSettled else { return }
        onOrphanSettled = nil
        recordLeft()
        settled()
    }
}
