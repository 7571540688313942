import NIOCore
import SidecacheCore
import SidecacheStore

/// The cache side of an exchange: the lookup, the flight a miss leads or waits on,
/// and answers from stored entries.
extension Exchange {
    /// The hit path: one shard lookup, one atomic purge check, stored bytes out (with
    /// Redis in strict mode, after one small confirmation round trip).
    func lookup() {
        guard let context = machine.context else { return }
        let now = engine.clock.now()
        switch engine.store.lookup(context.key, now: now, on: connection.eventLoop) {
        case .now(let found):
            lookupAnswered(found, now: now)
        case let step:
            let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
            step.whenReady(scopes: { context.scopeIDs }) { found in
                let exchange = me.value
                exchange.lookupAnswered(found, now: exchange.engine.clock.now())
            }
        }
    }

    func lookupAnswered(_ found: Lookup, now: Timestamp) {
        guard !finished else { return }
        if let trouble = found.trouble { storeTrouble(trouble) }
        run(machine.lookupAnswered(found.entry, generations: found.sharedGuard, staleSince: found.staleSince, now: now))
    }

    /// A stored answer, or a 304 or 412 when the client's own preconditions say so.
    /// `revalidated`: the upstream was asked and confirmed it with a 304 just now.
    func answerFromCache(_ entry: CacheEntry, staleDetail: StaticString?, revalidated: Bool = false) {
        let now = engine.clock.now()
        outcome = staleDetail == nil ? .hit : .stale
        let timing = route.map { entry.timing.within($0) } ?? entry.timing
        // Built only when a 304, 412 or 502 needs it: never on the hit path.
        if answeredPreconditions(entry, now: now, mark: .fromCache(timing, now: now, stale: staleDetail != nil, revalidated: revalidated)) {
            return
        }
        answer(entry, decodingUpTo: Gzip.maxDecodedLength, stored: true,
               mark: .fromCache(timing, now: now, stale: staleDetail != nil, revalidated: revalidated)) {
            writer.hit(timing, form: $0, range: $1, now: now, staleDetail: staleDetail, revalidated: revalidated)
        }
        // Read straight off the route: a fresh hit of a route without `verify` pays one
        // comparison. Not for a spelling its route folds into another's key (`respelled`):
        // the upstream may read it as another resource, and its answer would drop the
        // plain spelling's good entry.
        if staleDetail == nil, let share = route?.policy.verify, share > 0, purpose == .client, !isBodyRead,
           Double.random(in: 0..<1) < share, let context = machine.context, !context.respelled {
            ShadowVerification.start(engine: engine, route: context.route, key: context.key, entry: entry,
                                     uri: context.route.query.fillTarget(context.target, uri: head.uri), request: head.headers,
                                     clientAddress: connection.remoteAddress, on: connection.eventLoop)
        }
    }

    /// The client's preconditions (RFC 9110 §13.2.2) against a stored answer: true when
    /// they made it a 304 or a 412, written here. Only for GET and HEAD (§13.1.1,
    /// §13.1.3) and a 2xx answer: preconditions are ignored where the answer would be
    /// anything else (§13.2.1), so a stored 404 stays a 404 whatever `If-None-Match: *`
    /// says. `mark`: what the answer would have said of the cache (a fill's 304 says MISS).
    func answeredPreconditions(_ entry: CacheEntry, now: Timestamp, mark: @autoclosure () -> CacheMark) -> Bool {
        guard !isBodyRead, entry.status / 100 == 2, head.headers.hasPreconditions else { return false }
        let stored = entry.storedHead()
        let decoded = entry.isGzip && !acceptsGzip
        var validators = HeaderList(stored.lines)
        // Only a gzip entry of a compressing route can carry a tag weakened here.
        var weakTagMayBeOurs = entry.isGzip && route?.policy.compress != false
        if decoded, let etag = validators.first("etag"), !etag.trimmingSpaces().hasPrefix("W/") {
            // The upstream's own gzip, kept with its strong tag: this client is given the
            // decoded form under the weak one, and the strong tag names other bytes.
            validators.replace("etag", with: ContentCoding.weakened(etag))
            weakTagMayBeOurs = false
        }
        let verdict = Validators.precondition(request: head.headers, stored: validators, weakStoredTagMayBeOurs: weakTagMayBeOurs)
        guard verdict != .satisfied else { return false }
        let mark = mark()
        if verdict == .notModified {
            status = 304
            finish(close: writer.notModified(entry, stored: stored.lines, now: now, decoded: decoded, mark: mark))
        } else {
            fail(.preconditionFailed, mark: mark)
        }
        return true
    }

    /// The stale entry kept to answer should the upstream fail is let go once a purge
    /// covered it since it was read: a mutation answered meanwhile purged it, and
    /// stale-if-error must not bring it back.
    func forgetPurgedFallback() {
        if let stale = machine.staleFallback, !engine.store.ledger.isValid(stale.entry) { machine.staleFallback = nil }
    }

    /// Asks the flight registry whether this miss leads a fill or waits on one.
    func enterFlight() {
        guard let context = machine.context else { return }
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        let loop = connection.eventLoop
        let ledger = engine.store.ledger
        let now = engine.clock.now()
        let role = engine.fills.enter(context.key, fillSeq: ledger.current, scopeIDs: scopeIDs, ledger: ledger, now: now) { result in
            loop.execute {
                let exchange = me.value
                exchange.waitTimer?.cancel()
                exchange.forgetPurgedFallback()
                exchange.run(exchange.machine.fillLanded(result, now: exchange.engine.clock.now()))
            }
        }
        switch role {
        case .wait(let id):
            engine.metrics.coalesced(route: context.route.name)
            run(machine.flightEntered(waiter: id, now: now))
        case .lead(let id):
            flight = id
            run(machine.flightEntered(waiter: nil, now: now))
        case .alone:
            run(machine.flightEntered(waiter: nil, now: now))
        }
    }

    func waitForFill(bound: Duration) {
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        let waiter = machine.waiter
        waitTimer = connection.eventLoop.scheduleTask(in: .milliseconds(bound.milliseconds)) {
            let exchange = me.value
            let action = exchange.machine.waitTimedOut(now: exchange.engine.clock.now())
            // Answered without fetching (the failure it queued again after): it waits no more.
            if case .answerInstead = action, let waiter { exchange.stopWaiting(waiter) }
            exchange.run(action)
        }
    }

    /// Leaves the flight this exchange waited on as `waiter`.
    func stopWaiting(_ waiter: UInt64) {
        waitTimer?.cancel()
        waitTimer = nil
        if let key = machine.context?.key { engine.fills.leave(key, waiter: waiter) }
    }

    /// Cross-instance coalescing: asks Redis whether another instance fetches the key.
    /// The lease outlives the fetch by a second at most: past `upstreamTimeout` the
    /// fetch has failed anyway.
    func takeLease() {
        guard let context = machine.context else { return }
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        let ttl = context.route.policy.upstreamTimeout + .seconds(1)
        guard let asked = engine.store.takeLease(context.key, for: ttl, on: connection.eventLoop) else {
            run(machine.leaseAnswered(otherFetches: false, now: engine.clock.now()))
            return
        }
        asked.whenSuccess { lease in
            let exchange = me.value
            var otherFetches = false
            switch lease {
            case .granted(let token): exchange.leaseToken = token
            case .heldElsewhere: otherFetches = true
            case .unavailable: break
            }
            if exchange.finished { exchange.releaseLease() }
            exchange.run(exchange.machine.leaseAnswered(otherFetches: otherFetches, now: exchange.engine.clock.now()))
        }
    }

    func waitForPeer(bound: Duration) {
        guard let context = machine.context else { return }
        let key = context.key
        engine.metrics.coalesced(route: context.route.name)
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        engine.store.awaitFill(of: key, bound: bound, on: connection.eventLoop) {
            let exchange = me.value
            exchange.run(exchange.machine.peerFilled(now: exchange.engine.clock.now()))
        }
    }

    /// The fill this exchange leased is over, however it ended: other instances read
    /// the key again.
    func releaseLease() {
        guard let token = leaseToken, let key = machine.context?.key else { return }
        leaseToken = nil
        engine.store.releaseLease(key, token: token, on: connection.eventLoop)
    }

    /// Ends the flight this exchange leads, telling its waiters how it went (and other
    /// instances, through its lease).
    func landFlight(_ result: FlightResult) {
        releaseLease()
        guard let id = flight, let key = machine.context?.key else { return }
        flight = nil
        engine.fills.land(key, flight: id, result, now: engine.clock.now())
    }

}
