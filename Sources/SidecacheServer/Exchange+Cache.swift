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
        switch engine.store.lookup(context.key, scopes: { scopeIDs }, now: now, on: connection.eventLoop) {
        case .now(let found):
            lookupAnswered(found, now: now)
        case .later(let future):
            let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
            future.whenSuccess { found in
                let exchange = me.value
                exchange.lookupAnswered(found, now: exchange.engine.clock.now())
            }
        }
    }

    private func lookupAnswered(_ found: Lookup, now: Timestamp) {
        guard !finished else { return }
        if let trouble = found.trouble { storeTrouble(trouble) }
        run(machine.lookupAnswered(found.entry, generations: found.sharedGuard, now: now))
    }

    /// A stored answer, or a 304 when the client's own validators match it.
    func answerFromCache(_ entry: CacheEntry, staleDetail: StaticString?) {
        let now = engine.clock.now()
        outcome = staleDetail == nil ? .hit : .stale
        if head.headers.contains(name: "if-none-match") || head.headers.contains(name: "if-modified-since") {
            let stored = entry.storedHead()
            if Validators.notModified(request: head.headers, stored: HeaderList(stored.lines)) {
                status = 304
                finish(close: writer.notModified(entry, stored: stored.lines, now: now, stale: staleDetail != nil))
                return
            }
        }
        answer(entry) { writer.hit(entry, form: $0, range: $1, now: now, staleDetail: staleDetail) }
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
        waitTimer = connection.eventLoop.scheduleTask(in: .milliseconds(bound.milliseconds)) {
            let exchange = me.value
            exchange.run(exchange.machine.waitTimedOut(now: exchange.engine.clock.now()))
        }
    }

    /// Leaves the flight this exchange waited on as `waiter`.
    func stopWaiting(_ waiter: UInt64) {
        waitTimer?.cancel()
        waitTimer = nil
        if let key = machine.context?.key { engine.fills.leave(key, waiter: waiter) }
    }

    /// Ends the flight this exchange leads, telling its waiters how it went.
    func landFlight(_ result: FlightResult) {
        guard let id = flight, let key = machine.context?.key else { return }
        flight = nil
        engine.fills.land(key, flight: id, result, now: engine.clock.now())
    }

    /// The proxy's own refresh: fetch and store whatever is cached now, unless a fill
    /// for the key is already under way (then that one refreshes it).
    func refresh(_ context: CacheContext) {
        guard let id = engine.fills.lead(context.key, fillSeq: engine.store.ledger.current, scopeIDs: context.scopeIDs) else {
            run(machine.failAtOnce(.refreshInProgress))
            return
        }
        flight = id
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        engine.store.beginRefresh(context.key, scopes: context.scopeIDs, on: connection.eventLoop).whenReady { guarded in
            let exchange = me.value
            if case .fill(let start) = exchange.machine.refresh(context, now: exchange.engine.clock.now()) {
                exchange.fill(start, guarded)
            }
        }
    }
}
