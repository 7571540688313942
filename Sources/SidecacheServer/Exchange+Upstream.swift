import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// What an exchange is doing with the upstream.
enum UpstreamMode {
    /// A miss on a cache route: fetch the GET, store it if the core says so, answer.
    case fill(FillContext)
    /// Anything else: forward, purge on success, stream the answer back.
    case forward(Forwarded)
}

struct FillContext {
    let route: Route
    let key: CacheKey
    /// Where the fill stands against purges: one after it keeps the answer from being stored.
    let guarded: FillGuard
    let scopeIDs: [UInt64]
    let requestTime: Timestamp
}

struct Forwarded {
    let marker: String
    let purge: PurgePlan?
}

/// Where the answer stands.
enum ResponseState {
    case waiting
    /// Collecting a storable body (at most `maxBodySize`) before storing and answering.
    case buffering(UpstreamResponseHead, EntryTiming, ByteBuffer)
    /// Head sent; body bytes go to the client as they come.
    case streaming(BodyFraming)
    /// A mutation's answer waits for its purge to reach Redis; chunks are held (unacknowledged,
    /// so curl pauses past its high-water mark).
    case holding(UpstreamResponseHead, cacheStatus: String, held: [ByteBuffer], ended: Bool)
    /// The answer comes from the store once a commit lands (a 304 refreshed a stored
    /// entry); the transfer's end must not finish the exchange before that.
    case committing
    case done
}

enum BodyFraming {
    case none, length, chunked, untilClose
}

extension Exchange {
    /// Fetches the GET for the cache key: conditionally when a stored answer is being
    /// revalidated. The fill's local purge sequence and shared counters are taken now,
    /// so a purge from here on keeps its answer out of the cache.
    func fill(_ context: CacheContext, _ guarded: FillGuard, now: Timestamp) {
        let fill = FillContext(route: context.route, key: context.key, guarded: guarded, scopeIDs: scopeIDs, requestTime: now)
        var extra: [(name: String, value: String)] = []
        if let revalidating { extra = Validators.revalidationHeaders(stored: HeaderList(revalidating.storedHead().lines)) }
        start(mode: .fill(fill), method: "GET", uri: context.route.query.fillTarget(context.target, uri: head.uri), body: nil,
              forFill: true, timeout: context.route.policy.upstreamTimeout, extraHeaders: extra)
    }

    func forward(route: Route?, marker: ForwardMarker) {
        var plan: PurgePlan?
        if !Invalidation.safeMethods.contains(method), let target {
            plan = PurgePlan(method: method, path: settings.config.routes.canonicalPath(target.path), rules: settings.config.purge)
        }
        start(mode: .forward(Forwarded(marker: marker.cacheStatus, purge: plan)), method: method, uri: head.uri, body: body,
              forFill: false, timeout: route?.policy.upstreamTimeout ?? settings.config.defaults.upstreamTimeout)
    }

    private func start(mode: UpstreamMode, method: String, uri: String, body: ByteBuffer?, forFill: Bool, timeout: Duration,
                       extraHeaders: [(name: String, value: String)] = []) {
        self.mode = mode
        if case .fill = mode { outcome = .miss }
        upstreamStarted = .now
        let headers = ForwardHeaders.request(head.headers, clientAddress: connection.remoteAddress,
                                             fallbackHost: settings.config.upstream.authority, forFill: forFill,
                                             requestID: ForwardHeaders.newRequestID) + extraHeaders
        let request = engine.upstreamRequest(settings.config, method: method, uri: uri, headers: headers, body: body, timeout: timeout)
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        transfer = engine.upstream.execute(request, on: connection.eventLoop) { event in me.value.upstream(event) }
    }

    private func upstream(_ event: UpstreamEvent) {
        guard !finished else { return }
        switch event {
        case .head(let h): upstreamHead(h)
        case .body(let chunk): upstreamBody(chunk)
        case .end: upstreamEnd()
        case .failure(let failure): upstreamFailed(failure)
        }
    }

    private func upstreamHead(_ h: UpstreamResponseHead) {
        if let started = upstreamStarted {
            let elapsed = ContinuousClock.now - started
            engine.metrics.upstream(route: route?.name, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        switch mode {
        case .fill(let fill):
            let now = engine.clock.now()
            if h.status == 304, let stored = revalidating {
                refreshed(stored, by: h, fill: fill, now: now)
                return
            }
            if h.status >= 500, let stale = staleFallback, ServeDecision.staleIfError(stale.timing, now: now) {
                transfer?.cancel()
                landFlight(.failed(.upstreamUnavailable("upstream answered \(h.status)")))
                writeHit(stale, now: now, staleDetail: "stale-if-error")
                return
            }
            let headers = HeaderList(h.headers)
            let vary = cache?.varyHeaders ?? []
            switch StoragePolicy.decide(route: fill.route, requestHeaders: head.headers, status: h.status,
                                        responseHeaders: headers, requestTime: fill.requestTime, responseTime: now,
                                        varyHeaders: vary) {
            case .store(let timing):
                let declared = headers.first("content-length").flatMap { Int($0) }
                if let declared, declared > fill.route.policy.maxBodySize {
                    landFlight(.fetchYourself(uncacheable: true))
                    streamHead(h, cacheStatus: CacheStatusField.miss(stored: false, notStored: .tooLarge), xCache: .miss)
                } else {
                    let capacity = min(declared ?? 16 << 10, fill.route.policy.maxBodySize)
                    response = .buffering(h, timing, connection.allocator.buffer(capacity: capacity))
                }
            case .skip(let reason):
                if reason == .vary {
                    // Learn the headers: from the next request on they are part of the key.
                    let uncovered = StoragePolicy.uncoveredVary(StoragePolicy.varyNames(headers), route: fill.route, varyHeaders: vary)
                    if !engine.vary.learn(uncovered, route: fill.route.name) {
                        engine.logger.warning("route varies on too many headers to cache", metadata: ["route": "\(fill.route.name)"])
                    }
                }
                landFlight(.fetchYourself(uncacheable: reason != .vary))
                streamHead(h, cacheStatus: CacheStatusField.miss(stored: false, notStored: reason), xCache: .miss)
            }
        case .forward(let forwarded):
            guard case .later(let shared) = purgeAfterSuccess(h, plan: forwarded.purge) else {
                streamHead(h, cacheStatus: forwarded.marker, xCache: .bypass)
                return
            }
            response = .holding(h, cacheStatus: forwarded.marker, held: [], ended: false)
            let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
            shared.whenComplete { _ in me.value.releaseHeld() }
        case nil:
            break
        }
    }

    /// DESIGN: every purge target of a successful mutation is purged before the client
    /// sees any of the answer; §4.4 invalidation rides along.
    private func purgeAfterSuccess(_ h: UpstreamResponseHead, plan: PurgePlan?) -> StoreStep<Void> {
        guard let target, PurgePlan.purges(status: h.status), !Invalidation.safeMethods.contains(method) else { return .now(()) }
        var scopes = Invalidation.scopes(method: method, status: h.status, path: target.path,
                                         host: head.headers.first(name: "host"), response: HeaderList(h.headers))
        if let plan, !plan.isEmpty {
            let json = plan.readsBody ? body.flatMap { JSONValue.parse($0.readableBytesView) } : nil
            let (ruleScopes, widened) = plan.scopes(query: target.query, headers: head.headers, body: json)
            scopes += ruleScopes
            for w in widened {
                engine.logger.warning("purge target widened to a subtree: value missing, empty or containing /",
                                      metadata: ["template": "\(w)", "request": "\(method) \(target.path)"])
            }
        }
        return engine.purge(scopes, reason: "\(method) \(target.path)", source: .mutation, on: connection.eventLoop)
    }

    /// The purge reached Redis (or was journaled): the held answer may go out now.
    private func releaseHeld() {
        guard !finished, case .holding(let h, let cacheStatus, let held, let ended) = response else { return }
        streamHead(h, cacheStatus: cacheStatus, xCache: .bypass)
        for chunk in held { streamBody(chunk, consumed: chunk.readableBytes) }
        if ended { upstreamEnd() }
    }

    private func upstreamBody(_ chunk: ByteBuffer) {
        switch response {
        case .buffering(let h, let timing, var collected):
            guard case .fill(let fill) = mode else { return }
            if collected.readableBytes + chunk.readableBytes > fill.route.policy.maxBodySize {
                // Too big to store after all: from here on it streams.
                response = .done
                landFlight(.fetchYourself(uncacheable: true))
                streamHead(h, cacheStatus: CacheStatusField.miss(stored: false, notStored: .tooLarge), xCache: .miss)
                streamBody(collected, consumed: 0)
                streamBody(chunk, consumed: chunk.readableBytes)
                return
            }
            response = .done   // drop our reference so the append does not copy
            collected.writeImmutableBuffer(chunk)
            response = .buffering(h, timing, collected)
            transfer?.consumed(chunk.readableBytes)
        case .streaming:
            streamBody(chunk, consumed: chunk.readableBytes)
        case .holding(let h, let cacheStatus, var held, let ended):
            held.append(chunk)
            response = .holding(h, cacheStatus: cacheStatus, held: held, ended: ended)
        case .waiting, .committing, .done:
            transfer?.consumed(chunk.readableBytes)
        }
    }

    /// Writes one chunk in the response's framing; tells the transfer once it left,
    /// which is what paces the upstream for big bodies.
    private func streamBody(_ chunk: ByteBuffer, consumed: Int) {
        guard case .streaming(let framing) = response, chunk.readableBytes > 0 else {
            if consumed > 0 { transfer?.consumed(consumed) }
            return
        }
        let transfer = self.transfer
        let done: (@Sendable () -> Void)? = consumed > 0 ? { @Sendable in transfer?.consumed(consumed) } : nil
        switch framing {
        case .none:
            done?()
        case .length, .untilClose:
            connection.writeAndFlush(chunk, written: done)
        case .chunked:
            var size = connection.allocator.buffer(capacity: 12)
            size.writeChunkHeader(chunk.readableBytes)
            connection.write(size)
            connection.write(chunk)
            var crlf = connection.allocator.buffer(capacity: 2)
            crlf.writeStaticString("\r\n")
            connection.writeAndFlush(crlf, written: done)
        }
    }

    private func upstreamEnd() {
        switch response {
        case .buffering(let h, let timing, let collected):
            guard case .fill(let fill) = mode else { return }
            storeAndAnswer(h, timing: timing, body: collected, fill: fill)
        case .streaming(let framing):
            let close = connection.closesAfterResponse || framingCloses(framing)
            if case .chunked = framing {
                var last = connection.allocator.buffer(capacity: 5)
                last.writeStaticString("0\r\n\r\n")
                connection.writeAndFlush(last, written: nil)
            }
            finish(close: close)
        case .holding(let h, let cacheStatus, let held, _):
            response = .holding(h, cacheStatus: cacheStatus, held: held, ended: true)
        case .committing:
            break
        case .waiting, .done:
            finish(close: connection.closesAfterResponse)
        }
    }

    private func framingCloses(_ framing: BodyFraming) -> Bool {
        if case .untilClose = framing { return true }
        return false
    }

    private func upstreamFailed(_ failure: UpstreamFailure) {
        engine.metrics.upstreamError(route: route?.name, kind: failure.kind.rawValue)
        let error: ProxyError = failure.kind == .timeout ? .upstreamTimeout(failure.detail) : .upstreamUnavailable(failure.detail)
        switch response {
        case .waiting, .buffering, .holding:
            engine.logger.warning("upstream failed", metadata: ["request": "\(method) \(head.uri)", "error": "\(failure)"])
            landFlight(.failed(error))
            if let stale = staleFallback, ServeDecision.staleIfError(stale.timing, now: engine.clock.now()) {
                writeHit(stale, now: engine.clock.now(), staleDetail: "stale-if-error")
            } else {
                fail(error)
            }
        case .committing:
            break   // the answer is the stored entry's, whatever the transfer does now
        case .streaming, .done:
            // The head is out: the only honest signal left is a cut connection.
            engine.logger.warning("upstream failed mid-body", metadata: ["request": "\(method) \(head.uri)", "error": "\(failure)"])
            finish(close: true)
        }
    }
}
