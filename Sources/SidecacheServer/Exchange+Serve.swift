import NIOCore
import SidecacheCore
import SidecacheStore

/// Deciding on what a lookup found: serve, serve stale and refresh, wait on another
/// request's fill, or fetch.
extension Exchange {
    /// `entry` is what the lookup found and may serve (already purge-checked), or nil.
    /// `generations` are the shared purge counters a fill here must be stored under.
    func consider(_ entry: CacheEntry?, _ context: CacheContext, now: Timestamp, generations: EntryCodec.Generations?) {
        guard let entry else {
            fetch(context, now: now, generations: generations)
            return
        }
        switch ServeDecision.decide(entry.timing, now: now, route: context.route, request: head.headers) {
        case .fresh:
            answerFromCache(entry, now: now)
        case .staleWhileRevalidate:
            answerFromCache(entry, now: now, staleDetail: "stale-while-revalidate")
            engine.revalidate(head: head, on: connection.eventLoop)
        case .fetch:
            if ServeDecision.staleIfError(entry.timing, now: now) { staleFallback = entry }
            revalidating = entry
            fetch(context, now: now, generations: generations ?? entry.generations)
        }
    }

    /// A stored answer, or a 304 when the client's own validators match it.
    func answerFromCache(_ entry: CacheEntry, now: Timestamp, staleDetail: StaticString? = nil) {
        if head.headers.contains(name: "if-none-match") || head.headers.contains(name: "if-modified-since") {
            let stored = entry.storedHead()
            if Validators.notModified(request: head.headers, stored: HeaderList(stored.lines)) {
                writeNotModified(entry, stored: stored.lines, now: now, stale: staleDetail != nil)
                return
            }
        }
        writeHit(entry, now: now, staleDetail: staleDetail)
    }

    private func writeNotModified(_ entry: CacheEntry, stored: [(name: String, value: String)], now: Timestamp, stale: Bool) {
        outcome = stale ? .stale : .hit
        status = 304
        var buffer = connection.allocator.buffer(capacity: 256)
        buffer.writeStatusLine(status: 304, reason: "Not Modified")
        for line in stored where line.name.isOne(of: Validators.notModifiedFields) { buffer.writeHeader(line.name, line.value) }
        buffer.writeHeader("Age", Int(entry.timing.age(at: now).wholeSeconds))
        buffer.writeStaticString(stale ? "X-Cache: STALE\r\n" : "X-Cache: HIT\r\n")
        buffer.writeHeader(CacheStatusField.name, CacheStatusField.hit(ttl: entry.timing.remaining(at: now)))
        let close = connection.closesAfterResponse
        writeConnectionHeader(&buffer, close: close)
        buffer.writeStaticString("\r\n")
        connection.writeAndFlush(buffer, written: nil)
        finish(close: close)
    }

    /// A miss (or an entry too stale to serve): wait on the fill already under way for
    /// this key, or lead one. `only-if-cached` on an origin route stops here with 504.
    func fetch(_ context: CacheContext, now: Timestamp, generations: EntryCodec.Generations?) {
        if case .origin = context.route.ttl, ServeDecision.requestDirectives(head.headers).onlyIfCached {
            fail(.onlyIfCached)
            return
        }
        if !joined {
            let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
            let loop = connection.eventLoop
            let ledger = engine.store.ledger
            let role = engine.fills.enter(context.key, fillSeq: ledger.current, scopeIDs: scopeIDs, ledger: ledger, now: now) { result in
                loop.execute { me.value.flightLanded(result, context, generations: generations) }
            }
            switch role {
            case .wait(let id):
                engine.metrics.coalesced(route: context.route.name)
                let bound = TimeAmount.milliseconds(context.route.policy.upstreamTimeout.milliseconds)
                let timer = loop.scheduleTask(in: bound) { me.value.waitTimedOut(context, generations: generations) }
                waiting = (id, timer)
                return
            case .lead(let id):
                flight = id
            case .alone:
                break
            }
        }
        fill(context, engine.store.beginFill(shared: generations), now: now)
    }

    /// The fill this exchange waited on is done.
    private func flightLanded(_ result: FlightResult, _ context: CacheContext, generations: EntryCodec.Generations?) {
        guard !finished, waiting != nil else { return }
        waiting?.timer.cancel()
        waiting = nil
        joined = true
        switch result {
        case .stored:
            lookup(context)   // the entry is stored now; checked like any other (Vary, purges, strict mode)
        case .fetchYourself:
            fill(context, engine.store.beginFill(shared: generations), now: engine.clock.now())
        case .failed(let error):
            if let stale = staleFallback {
                writeHit(stale, now: engine.clock.now(), staleDetail: "stale-if-error")
            } else {
                fail(error)
            }
        }
    }

    /// Waited `upstreamTimeout` on someone else's fill: fetch on our own.
    private func waitTimedOut(_ context: CacheContext, generations: EntryCodec.Generations?) {
        guard !finished, waiting != nil else { return }
        stopWaiting()
        joined = true
        fill(context, engine.store.beginFill(shared: generations), now: engine.clock.now())
    }

    func stopWaiting() {
        guard let w = waiting, let key = cache?.key else { return }
        w.timer.cancel()
        engine.fills.leave(key, waiter: w.id)
        waiting = nil
    }

    /// Ends the flight this exchange leads, telling its waiters how it went.
    func landFlight(_ result: FlightResult) {
        guard let id = flight, let key = cache?.key else { return }
        flight = nil
        engine.fills.land(key, flight: id, result, now: engine.clock.now())
    }

    /// The proxy's own refresh: fetch and store whatever is cached now, unless a fill
    /// for the key is already under way (then that one refreshes it).
    func refresh(_ context: CacheContext, now: Timestamp) {
        guard let id = engine.fills.lead(context.key, fillSeq: engine.store.ledger.current, scopeIDs: scopeIDs) else {
            fail(.refreshInProgress)
            return
        }
        flight = id
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        engine.store.beginRefresh(scopes: scopeIDs, on: connection.eventLoop).whenReady { fill in
            let exchange = me.value
            exchange.fill(context, fill, now: exchange.engine.clock.now())
        }
    }
}
