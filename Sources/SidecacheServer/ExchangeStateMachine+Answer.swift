import NIOCore
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// The upstream's answer: store it, stream it, hold it for a purge, or fall back.
extension ExchangeStateMachine {
    /// `bodies` and `bodyLimit`: what a fill's body may take of the process's memory
    /// (`limits.bodyMemory`).
    mutating func upstreamHead(_ h: UpstreamResponseHead, now: Timestamp, bodies: BodyMemory, bodyLimit: Int) -> Action {
        guard case .fetching(let fetch, .awaitingHead) = state else { return .none }
        switch fetch {
        case .forward:
            state = .fetching(fetch, .holding(h, held: [], ended: false))
            return .purge(h)
        case .fill(let requestTime):
            guard let context else { return .none }
            if h.status == 304, let stored = revalidating { return refreshed(stored, by: h, context, requestTime: requestTime, now: now) }
            if h.status >= 500, let stale = fallback(at: now) {
                state = .finished
                let error = ProxyError.upstreamUnavailable("upstream answered \(h.status)")
                return .answerInstead(error, mark: .failedFill, stale: stale, cancelTransfer: true, land: .failed(error, queueAgain: false))
            }
            let headers = HeaderList(h.headers)
            let route = context.route
            let decision = StoragePolicy.decide(route: route, requestHeaders: request, status: h.status, responseHeaders: headers,
                                                requestTime: requestTime, responseTime: now, varyHeaders: context.varyHeaders)
            switch decision {
            case .store(let timing):
                let declared = headers.first("content-length").flatMap { Int($0) }
                if let declared, declared > route.policy.maxBodySize {
                    return stream(h, fetch, notStored: .tooLarge, land: .fetchYourself(uncacheable: true))
                }
                let capacity = min(declared ?? 16 << 10, route.policy.maxBodySize)
                let hold = bodies.hold(within: bodyLimit)
                guard hold.grow(to: capacity) else {
                    return stream(h, fetch, notStored: .bodyMemory, land: .fetchYourself(uncacheable: false))
                }
                // Judged on the upstream's own `Vary`, stored with the key's (a streamed
                // answer gets them as it is sent, `Exchange.sendHead`).
                var stored = h
                KeyVary.advertise(context.keyVary, in: &stored.headers)
                state = .fetching(fetch, .buffering(stored, timing, allocator.buffer(capacity: capacity), hold))
                return .none
            case .skip(let reason):
                var start = stream(h, fetch, notStored: reason, land: landing(notStored: reason))
                if reason == .vary, case .sendHead(var head) = start {
                    // Learn the headers: from the next request on they are part of the key.
                    head.learnVary = StoragePolicy.uncoveredVary(StoragePolicy.varyNames(headers), route: route,
                                                                 varyHeaders: context.varyHeaders)
                    start = .sendHead(head)
                }
                return start
            }
        }
    }

    /// What the misses that waited on this fill do when its answer is not stored. When
    /// this request alone kept it out (its `no-store`, its `Authorization`), the next
    /// client's answer may be storable: they queue again and one of them fetches (each
    /// fetching on its own, one client's `no-store` sent every waiter upstream at
    /// once). When the key must learn a Vary, they fetch on their own, each now a
    /// variant, and the key is not remembered as not storable. Otherwise it is
    /// (hit-for-miss): a status counts as the answer's own (a 403 for everyone stays
    /// hit-for-miss, or each burst of misses would queue and then fetch).
    private func landing(notStored reason: NotStoredReason) -> FlightResult {
        if keptOutByThisRequest(reason) { return .keptOut(reason) }
        return .fetchYourself(uncacheable: reason != .vary)
    }

    /// Whether this request alone kept its answer out of the store (its `no-store`, its
    /// `Authorization`): that says nothing of the answer for anyone else. (`reason` is
    /// what the answer to it was judged by, or for a waiter what its leader's was.)
    func keptOutByThisRequest(_ reason: NotStoredReason) -> Bool {
        switch reason {
        case .authorization: request.contains(name: "authorization")
        case .noStore: ServeDecision.requestDirectives(request).noStore
        default: false
        }
    }

    /// RFC 9111 §4.3.4: the upstream confirmed a stored answer with 304. Its headers
    /// update the stored ones, freshness is computed anew, the body stays.
    private mutating func refreshed(_ stored: CacheEntry, by h: UpstreamResponseHead, _ context: CacheContext,
                                    requestTime: Timestamp, now: Timestamp) -> Action {
        let old = stored.storedHead()
        guard Validators.confirms(stored: HeaderList(old.lines), notModified: HeaderList(h.headers)) else {
            // A 304 naming another representation (a different ETag, a later
            // Last-Modified) updates nothing. The stored answer is given once as it was
            // stored, as stale, and removed: the waiters look up again and one of them
            // fetches in full.
            state = .finished
            return .answerFromCache(FromCache(entry: stored, staleDetail: "not-confirmed", land: .queueAgain, drop: true))
        }
        var merged = Validators.merge(stored: old.lines, notModified: ForwardHeaders.response(h.headers, forStorage: true, received: now))
        if stored.isGzip, HeaderList(old.lines).first("etag")?.hasPrefix("W/") == true,
           let i = merged.firstIndex(where: { $0.name.equalsIgnoringASCIICase("etag") }) {
            // Compressed here: the upstream's strong tag names its identity bytes, not ours.
            merged[i].value = ContentCoding.weakened(merged[i].value)
        }
        // Freshness counts from the 304, as from any answer (RFC 9111 §4.2.3): its `Age`
        // (which is never stored), and its `Date` or, without one, its arrival — not the
        // stored answer's old `Date`, which would make the refreshed entry stale at once.
        let confirmation = HeaderList(h.headers)
        var timed = merged.filter { !$0.name.equalsIgnoringASCIICase("age") }
        // Judged on the upstream's own `Vary`: the stored one also names the key's
        // fields (`KeyVary`), which no 304 without a `Vary` takes away.
        if !confirmation.contains("vary") { timed = KeyVary.without(context.route.keyVary, in: timed) }
        if !confirmation.contains("date") { timed.removeAll { $0.name.equalsIgnoringASCIICase("date") } }
        timed += confirmation.all("age").map { (name: "Age", value: $0) }
        // A gzip entry says `Vary: Accept-Encoding` on any route (clients without gzip get
        // it decoded): the proxy's own word, judged as the fill was, without it.
        if stored.isGzip && !(context.route.keyHeaders + context.varyHeaders).contains("accept-encoding") {
            timed = KeyVary.without(["accept-encoding"], in: timed)
        }
        // A 304 whose `Vary` leaves out a field the key reads (RFC 9110 §15.4.5 says it
        // must not) would have a cache in front keep one variant for all.
        KeyVary.advertise(context.keyVary, in: &merged)
        let decision = StoragePolicy.decide(route: context.route, requestHeaders: request, status: old.status,
                                            responseHeaders: HeaderList(timed), requestTime: requestTime, responseTime: now,
                                            varyHeaders: context.varyHeaders)
        state = .committing
        switch decision {
        case .store(let timing):
            return .commit(Filled(status: old.status, reason: old.reason, lines: merged, body: stored.body, timing: timing,
                                  revalidated: true))
        case .skip(let reason):
            // Confirmed but no longer storable (the 304 brought `Set-Cookie` or
            // `private`): its client gets the answer as the 304 updated it, and nothing
            // is kept, the stored entry neither (`Exchange.commit`). Answered as it was
            // stored, the client lost the session the `Set-Cookie` rotated, and a
            // browser or CDN in front kept an answer the upstream now called private.
            return .commit(Filled(status: old.status, reason: old.reason, lines: merged, body: stored.body, timing: stored.timing,
                                  revalidated: true, notStored: reason))
        }
    }

    /// The mutation's purges are done: the held answer goes out.
    mutating func purged() -> Action {
        guard case .fetching(let fetch, .holding(let h, let held, let ended)) = state, case .forward(let marker) = fetch else {
            return .none
        }
        var start = StreamStart(head: h, framing: framing(h), mark: .forwarded(marker))
        start.body = held
        start.unacknowledged = held.reduce(0) { $0 + $1.readableBytes }
        start.ended = ended
        state = ended ? .finished : .fetching(fetch, .streaming(start.framing))
        return .sendHead(start)
    }

    mutating func upstreamBody(_ chunk: ByteBuffer) -> Action {
        // The body collected so far is taken out of the state by the pattern itself: a copy
        // of the state's answer held in a local kept the buffer shared, so each append
        // copied all of it (a 4.7 MB fill in 16 KiB chunks moved some 700 MB).
        if case .fetching(let fetch, .buffering(let h, let timing, var collected, let hold)) = state {
            guard let context else { return .none }
            let total = collected.readableBytes + chunk.readableBytes
            let tooLarge = total > context.route.policy.maxBodySize
            if tooLarge || !hold.grow(to: total) {
                // Not stored after all: from here on it streams. Too large stays so for the
                // next request; a full `limits.bodyMemory` is the moment's, not the answer's.
                let streamed = stream(h, fetch, notStored: tooLarge ? .tooLarge : .bodyMemory,
                                      land: .fetchYourself(uncacheable: tooLarge))
                guard case .sendHead(var start) = streamed else { return .none }
                start.body = [collected, chunk]
                start.unacknowledged = chunk.readableBytes
                start.collectedShare = hold
                return .sendHead(start)
            }
            state = .idle   // drop the state's reference so the append does not copy
            collected.writeImmutableBuffer(chunk)
            state = .fetching(fetch, .buffering(h, timing, collected, hold))
            return .consumed(chunk.readableBytes)
        }
        if case .fetching(let fetch, .holding(let h, var held, let ended)) = state {
            state = .idle
            held.append(chunk)
            state = .fetching(fetch, .holding(h, held: held, ended: ended))
            return .none
        }
        if case .fetching(_, .streaming(let framing)) = state { return .sendBody(chunk, framing) }
        return .consumed(chunk.readableBytes)   // nothing under way takes it
    }

    mutating func upstreamEnd() -> Action {
        guard case .fetching(let fetch, let answer) = state else { return .none }
        switch answer {
        case .buffering(let h, let timing, let collected, _):
            state = .committing
            // An answer without `Date` is dated when it was made, as far as the proxy can tell.
            let lines = ForwardHeaders.response(h.headers, forStorage: true, received: timing.birth)
            return .commit(Filled(status: h.status, reason: h.reason, lines: lines, body: collected, timing: timing, revalidated: false))
        case .holding(let h, let held, _):
            state = .fetching(fetch, .holding(h, held: held, ended: true))
            return .none
        case .streaming(let framing):
            state = .finished
            return .endBody(framing)
        case .awaitingHead:
            // Never an empty answer: the client would read the next response as this one's.
            return upstreamFailed(.upstreamUnavailable("the upstream ended without an answer"), onTheRequest: true, now: nil)
        }
    }

    /// `now` decides whether a stale entry may still answer (nil: it may not).
    /// `onTheRequest`: the upstream had the request and broke off (`FlightResult.failed`).
    mutating func upstreamFailed(_ error: ProxyError, onTheRequest: Bool, now: Timestamp?) -> Action {
        guard case .fetching(let fetch, let answer) = state else { return .none }
        state = .finished
        if case .streaming = answer { return .cut }   // the head is out: a cut connection is the only honest signal
        let stale = now.flatMap(fallback(at:))
        return .answerInstead(error, mark: fetch.failureMark, stale: stale, cancelTransfer: false,
                              land: .failed(error, queueAgain: onTheRequest))
    }

    /// The answer streams as it came, marked as not stored (for `notStored`).
    private mutating func stream(_ h: UpstreamResponseHead, _ fetch: Fetch, notStored: NotStoredReason, land: FlightResult) -> Action {
        let start = StreamStart(head: h, framing: framing(h),
                                mark: CacheMark(xCache: .miss, cacheStatus: CacheStatusField.miss(stored: false, notStored: notStored)),
                                land: land)
        state = .fetching(fetch, .streaming(start.framing))
        return .sendHead(start)
    }

    /// How the body of `h` is framed to this client.
    func framing(_ h: UpstreamResponseHead) -> BodyFraming {
        BodyFraming(status: h.status, headers: HeaderList(h.headers), isHEAD: isHEAD, version: version)
    }
}
