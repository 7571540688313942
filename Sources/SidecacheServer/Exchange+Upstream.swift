import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// The upstream side of an exchange: the request it sends, the events it gets back
/// (fed to the machine) and the commit a fill ends with. The purge a mutation runs is
/// in Exchange+Purge.swift.
extension Exchange {
    /// Fetches the GET (or the POST read) for the cache key: a GET conditionally when a
    /// stored answer is being revalidated (a conditional POST would ask for a 412, not
    /// a 304). `guarded` was taken now, so a purge from here on keeps the answer out of
    /// the cache.
    func fill(_ start: ExchangeStateMachine.FillStart, _ guarded: FillGuard) {
        guard let context = machine.context else { return }
        fillGuard = guarded
        outcome = .miss
        var extra: [(name: String, value: String)] = []
        if let stored = start.revalidating {
            if !engine.store.ledger.isValid(stored) {
                // Purged while this request waited on another's fill: a 304 to its validators
                // would store the purged body again under a guard taken after the purge.
                machine.revalidating = nil
            } else if !isBodyRead {
                extra = Validators.revalidationHeaders(stored: HeaderList(stored.storedHead().lines))
            }
        }
        unconditionalFill = extra.isEmpty
        sentAsFill = true
        // A compressing route asks for gzip or identity only (never a coding it could not
        // serve to everyone), and identity for a client without gzip: should the answer
        // turn out too large to store, it streams to that client as it comes.
        let acceptEncoding = context.route.policy.compress ? (acceptsGzip ? "gzip" : "identity") : nil
        send(method: isBodyRead ? "POST" : "GET", uri: context.route.query.fillTarget(context.target, uri: head.uri),
             body: isBodyRead ? body : nil, forFill: true,
             timeout: context.route.policy.upstreamTimeout, extraHeaders: extra, acceptEncoding: acceptEncoding)
    }

    func forward() {
        send(method: method, uri: head.uri, body: body ?? emptyBodyIfFramed, forFill: false,
             timeout: route?.policy.upstreamTimeout ?? settings.config.defaults.upstreamTimeout)
    }

    /// An empty body for a request whose client framed one (`Content-Length: 0`, or no
    /// chunks), so that it goes out with `Content-Length: 0` too: an upstream may refuse
    /// a PUT without a length (nginx's DAV answered 500, S3 answers 411; RFC 9110 §8.6).
    /// A GET or HEAD goes without one.
    private var emptyBodyIfFramed: ByteBuffer? {
        switch head.method {
        case .GET, .HEAD: return nil
        default:
            let framed = head.headers.contains(name: "content-length") || head.headers.contains(name: "transfer-encoding")
            return framed ? ByteBuffer() : nil
        }
    }

    /// `acceptEncoding` replaces the client's `Accept-Encoding`.
    private func send(method: String, uri: String, body: ByteBuffer?, forFill: Bool, timeout: Duration,
                      extraHeaders: [(name: String, value: String)] = [], acceptEncoding: String? = nil) {
        upstreamStarted = .now()
        let upstream = settings.config.upstream
        var headers = ForwardHeaders.request(head.headers, clientAddress: connection.remoteAddress,
                                             fallbackHost: settings.config.host ?? upstream.authority, forFill: forFill,
                                             requestID: ForwardHeaders.newRequestID) + extraHeaders
        if let acceptEncoding { ForwardHeaders.accept(acceptEncoding, in: &headers) }
        let request = engine.upstreamRequest(upstream, method: method, uri: uri, headers: headers, body: body, timeout: timeout)
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        transfer = engine.upstream.execute(request, on: connection.eventLoop) { events in me.value.upstream(events) }
    }

    /// One delivery: what it writes to the client leaves in one flush.
    private func upstream(_ events: [UpstreamEvent]) {
        connection.corked { events.forEach(upstream) }
    }

    private func upstream(_ event: UpstreamEvent) {
        guard !finished else { return }
        switch event {
        case .interim(let h):
            // DESIGN: 1xx answers go on to HTTP/1.1 clients as received, never stored.
            // Nothing of the final answer is written before the upstream's final head.
            if purpose == .client && head.version.minor >= 1 && h.status != 101 { writer.interim(h) }
        case .head(let h):
            if let started = upstreamStarted {
                engine.metrics.upstream(route: route?.name, seconds: Double((NIODeadline.now() - started).nanoseconds) / 1e9)
            }
            if h.status == 304 && unconditionalFill {
                // A 304 confirms an entry only as the answer to its validators. To a fill
                // that sent none (the client's are never forwarded on one) it is the
                // upstream's mistake: taken as a confirmation it stored the old body as
                // fresh again; relayed, the client got no body to a request without
                // conditions. An upstream error: stale-if-error, else a 502.
                transfer?.cancel()
                return upstream(.failure(UpstreamFailure(kind: .protocolError, detail: "304 to a request without validators")))
            }
            forgetPurgedFallback()
            run(machine.upstreamHead(h, now: engine.clock.now(), bodies: engine.bodies, bodyLimit: settings.config.limits.bodyMemory))
        case .body(let chunk):
            run(machine.upstreamBody(chunk))
        case .end:
            let inDoubt = mutationAwaitsHead   // the upstream closed without answering: it had the request
            let action = machine.upstreamEnd()
            if inDoubt { purgeInDoubt { $0.run(action); $0.orphanSettled() } } else { run(action) }
        case .failure(let failure):
            engine.metrics.upstreamError(route: route?.name, kind: failure.kind.rawValue)
            let error: ProxyError = failure.kind == .timeout ? .upstreamTimeout(failure.detail) : .upstreamUnavailable(failure.detail)
            forgetPurgedFallback()
            let awaitedHead = mutationAwaitsHead
            let inDoubt = mutationInDoubt(after: failure)
            let action = machine.upstreamFailed(error, onTheRequest: failure.kind == .protocolError, now: engine.clock.now())
            let what = if case .cut = action { "upstream failed mid-body" } else { "upstream failed" }
            if let unlogged = engine.failureLog.take(at: engine.clock.now()) {
                engine.logger.warning("\(what)", metadata: ["request": "\(requestForLog)", "error": "\(failure)",
                                                            "unlogged": "\(unlogged)"])
            }
            if inDoubt {
                purgeInDoubt { $0.run(action); $0.orphanSettled() }
            } else {
                run(action)
                if awaitedHead { orphanSettled() }   // never sent: nothing to purge
            }
        }
    }

    /// Sends the head of a streamed answer, then whatever body already arrived. On a
    /// cache route it names what the key reads (`KeyVary`), bypassed or not: the review
    /// had Alice's answer to `/cme/a//b` (an unsafe path, bypassed) go to Bob through
    /// nginx caching in front.
    func sendHead(_ start: ExchangeStateMachine.StreamStart) {
        // Only a route's answers are copied to be changed: pass-throughs stream as they come.
        guard let route, let keyVary = machine.context?.keyVary ?? Optional(route.keyVary), !keyVary.isEmpty else {
            return stream(start)
        }
        var start = start
        KeyVary.advertise(keyVary, in: &start.head.headers)
        stream(start)
    }

    /// What runs once `bytes` of body delivered by the transfer have left for the client:
    /// the transfer is told, so it can resume past its high-water mark. Nothing, when the
    /// transfer took them as consumed at once (a small answer that has ended): its write
    /// then needs no promise, and the end of the answer moves the connection's idle clock.
    func acknowledgement(of bytes: Int) -> (@Sendable () -> Void)? {
        guard let transfer, !transfer.consumedAtOnceIfEnded(bytes) else { return nil }
        return { @Sendable in transfer.consumed(bytes) }
    }

    private func stream(_ start: ExchangeStateMachine.StreamStart) {
        if let land = start.land { landFlight(land) }
        // A fill's answer that is not stored streams: the client's If-Match or
        // If-Unmodified-Since, not sent upstream, is evaluated on it here.
        if sentAsFill && !isBodyRead && start.head.status / 100 == 2 && head.headers.hasPreconditions
            && Validators.precondition(request: head.headers, stored: HeaderList(start.head.headers),
                                       weakStoredTagMayBeOurs: false) == .failed {
            transfer?.cancel()
            return fail(.preconditionFailed, mark: start.mark)
        }
        if !start.learnVary.isEmpty, let route, engine.vary.learn(start.learnVary, route: route.name) == .refused {
            engine.logger.warning("route varies on too many headers to cache; such answers are not stored (said once)",
                                  metadata: ["route": "\(route.name)", "limit": "\(VaryMemory.maxPerRoute)"])
        }
        status = start.head.status
        writer.head(start) { HTTPDate.format(engine.clock.now()) }
        let bytes = start.unacknowledged
        for (i, chunk) in start.body.enumerated() {
            let last = i == start.body.count - 1
            let written: (@Sendable () -> Void)? = if last && bytes > 0 {
                acknowledgement(of: bytes)
            } else if i == 0, let share = start.collectedShare {
                { @Sendable in withExtendedLifetime(share) {} }
            } else {
                nil
            }
            writer.body(chunk, framing: start.framing, written: written)
        }
        if start.ended {
            finish(close: writer.end(start.framing))
        } else if sentAsFill && start.framing == .none {
            // A HEAD fetched as GET whose answer is not stored: its client takes no body,
            // and no one else waits on this transfer (the flight landed above). Left to
            // run it fetched the whole body, acknowledged as it came, and held the
            // client's next request until the upstream ended (a silent one: 30 s).
            transfer?.cancel()
            finish(close: writer.end(start.framing))
        }
    }

    /// Stores the entry (L1, and Redis by compare-and-set when shared) unless a purge
    /// overtook the fill, lands the flight, then answers from the stored bytes.
    /// DESIGN: a filled entry is in Redis before its client has the answer.
    func commit(_ filled: ExchangeStateMachine.Filled) {
        guard let context = machine.context, let fillGuard else { return }
        let route = context.route
        // The body as the upstream meant it: as sent, or its gzip decoded, which a client
        // without gzip is given on any route and tags are read from. DESIGN: no body over
        // `maxBodySize` is stored or buffered whole, so a gzip that does not decode
        // within it (corrupt, or small and inflating past it) is answered as it came, and
        // not stored: stored, every hit of a client without gzip inflated it again and
        // answered 502.
        let coding = ContentCoding.coding(HeaderList(filled.lines))
        let decodes = ContentCoding.isGzip(coding)
        let decoded = decodes ? try? Gzip.decompress(filled.body, allocator: connection.allocator, limit: route.policy.maxBodySize) : nil
        var tags: [String] = []
        var notStored: NotStoredReason? = filled.notStored ?? (decodes && decoded == nil ? .encoding : nil)
        switch EntryTags.of(route: route, lines: filled.lines, identity: coding.isEmpty ? filled.body : decoded) {
        case .tags(let found):
            tags = found
        case .tooMany(let over):
            notStored = .tooManyTags
            engine.logger.warning("answer not stored: more tags than an entry carries", metadata: [
                "route": "\(route.name)", "bodyTags": "\(BodyTag.maxPerEntry)", "surrogateKeys": "\(EntryTags.maxDeclared)",
                "over": "\(over)"])
        case .unreadable:
            notStored = .encoding
        case .untagged:
            notStored = .untagged
        case .unnamable(let count):
            notStored = .untagged
            engine.logger.warning("answer not stored: its tags reach values no tag can hold (a space or comma, or a whole number past 2^53)", metadata: [
                "route": "\(route.name)", "values": "\(count)"])
        }
        var body = filled.body
        var lines = filled.lines
        var gzipped = false
        if route.policy.compress {
            (body, lines, gzipped) = Self.storedForm(body: body, lines: lines, allocator: connection.allocator)
        } else if decoded != nil {
            // Kept as sent, and served decoded to clients without gzip: which form a client
            // gets depends on its `Accept-Encoding`, and a shared cache downstream must know.
            lines = ContentCoding.storedLines(lines, compressed: false)
        }
        // A plain client's answer is made from the identity body in hand, not inflated again.
        let identity = gzipped ? filled.body : decoded
        body = exactly(body)
        var entryHead = connection.allocator.buffer(capacity: lines.reduce(64) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        entryHead.writeStatusLine(status: filled.status, reason: filled.reason)
        for line in lines where !line.name.equalsIgnoringASCIICase("transfer-encoding") { entryHead.writeHeader(line.name, line.value) }
        if filled.status != 204 && filled.status != 304 { entryHead.writeHeader("Content-Length", body.readableBytes) }
        if let notStored {
            if filled.revalidated && !machine.keptOutByThisRequest(notStored)
                && !head.headers.contains(name: "cookie") && !head.headers.contains(name: "authorization") {
                // The upstream's 304 made the stored answer unstorable: served on, it was
                // fresh to every other client until its old freshness ran out. Not when
                // the request carried credentials: a `Set-Cookie` or `private` for a
                // session says nothing of the answer everyone else shares, and any client
                // with a cookie could otherwise empty the entry for them.
                engine.store.drop(context.key, on: connection.eventLoop)
            }
            let passed = CacheEntry(head: entryHead, body: body, status: filled.status, timing: filled.timing, fillSeq: fillGuard.fillSeq,
                                    scopeIDs: [])
            landFlight(.fetchYourself(uncacheable: true))
            return answerFill(passed, cacheStatus: CacheStatusField.miss(stored: false, notStored: notStored),
                              revalidated: filled.revalidated, identity: identity)
        }
        let tagIDs = PurgeScope.tagIDs(tags)
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        engine.store.commit(context.key, status: filled.status, timing: filled.timing, head: entryHead, body: body, scopeIDs: scopeIDs,
                            tagIDs: tagIDs, under: fillGuard, now: engine.clock.now(), on: connection.eventLoop)
            .whenReady { committed in me.value.committed(committed, revalidated: filled.revalidated, identity: identity) }
    }

    /// `body` holding exactly its bytes: an entry is charged its buffers' capacity, so
    /// spare room the upstream's body came with would be memory the store pays for.
    private func exactly(_ body: ByteBuffer) -> ByteBuffer {
        guard body.capacity > body.readableBytes else { return body }
        var exact = connection.allocator.buffer(capacity: body.readableBytes)
        exact.writeImmutableBuffer(body)
        return exact
    }

    /// What a compressing route stores (DESIGN "HTTP fidelity", compression): identity
    /// bodies of compressible types gzipped once here, gzip kept; every answer says
    /// `Vary: Accept-Encoding` (DESIGN: "answers always carry" it; an `image/png` did
    /// not). Should zlib fail, the answer is stored as it came. `gzipped`: the body was
    /// compressed here (the identity bytes are still the caller's).
    static func storedForm(body: ByteBuffer, lines: [(name: String, value: String)], allocator: ByteBufferAllocator)
        -> (body: ByteBuffer, lines: [(name: String, value: String)], gzipped: Bool) {
        let headers = HeaderList(lines)
        if ContentCoding.compresses(headers, bodyLength: body.readableBytes), let gzipped = try? Gzip.compress(body, allocator: allocator) {
            return (gzipped, ContentCoding.storedLines(lines, compressed: true), true)
        }
        return (body, ContentCoding.storedLines(lines, compressed: false), false)
    }

    private func committed(_ committed: Commit, revalidated: Bool, identity: ByteBuffer?) {
        if let trouble = committed.trouble { storeTrouble(trouble) }
        let cacheStatus: String
        switch committed.outcome {
        case .stored:
            landFlight(.stored)
            cacheStatus = CacheStatusField.miss(stored: true)
        case .storedLocally:
            landFlight(.stored)
            cacheStatus = CacheStatusField.missStoredLocally
        case .purged:
            landFlight(.queueAgain)
            cacheStatus = CacheStatusField.miss(stored: false, notStored: .purged)
        case .tooLarge:
            landFlight(.fetchYourself(uncacheable: true))
            cacheStatus = CacheStatusField.miss(stored: false, notStored: .tooLarge)
        case .notKept:
            landFlight(.fetchYourself(uncacheable: false))
            cacheStatus = CacheStatusField.miss(stored: false, notStored: .storeUnavailable)
        }
        answerFill(committed.entry, cacheStatus: cacheStatus, revalidated: revalidated, identity: identity)
    }

    /// Answers the fill's client from `entry`, stored or not.
    private func answerFill(_ entry: CacheEntry, cacheStatus: String, revalidated: Bool, identity: ByteBuffer?) {
        guard machine.committed() else { return }
        if clientLeft { return orphanSettled() }   // stored for the others; no one to answer
        if revalidated {
            answerFromCache(entry, staleDetail: nil, revalidated: true)
        } else {
            let now = engine.clock.now()
            let mark = CacheMark(xCache: .miss, cacheStatus: cacheStatus)
            if answeredPreconditions(entry, now: now, mark: mark) { return }
            answer(entry, identity: identity, decodingUpTo: route?.policy.maxBodySize ?? Gzip.maxDecodedLength, mark: mark) {
                writer.filled(entry, form: $0, range: $1, now: now, cacheStatus: cacheStatus)
            }
        }
    }
}
