import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore

/// The hit path: a body-less GET or HEAD whose entry is fresh, valid against every
/// purge, and answered as stored, without an exchange. An exchange, its state machine
/// and its writer exist for requests that fetch, revalidate or answer with work; a
/// fresh hit needs none of them, and without them a memory hit takes 32 200
/// instructions instead of 37 000 (callgrind; BENCHMARKS, "Twenty-ninth session").
/// From L1 alone the hit is answered at once; when Redis must be asked first (strict
/// mode's confirmation, an entry read from L2) the connection waits for the lookup
/// (`Pending`) and answers from there. Anything else goes to an exchange, with what was
/// learned on the way (the request's class, its key, the lookup's answer) so that
/// nothing is worked out or asked twice, and the exchange answers it exactly as before.
enum FreshHit {
    enum Result {
        case answered(close: Bool)
        /// The lookup waits on Redis: `answer(_:_:…)` goes on once it is in.
        case waiting(LookupStep, Pending)
        case notAnswered(Exchange.Known?)
    }

    /// A request whose lookup waits on Redis.
    struct Pending: Sendable {
        let head: HTTPRequestHead
        let context: CacheContext
        let isHEAD: Bool
        let started: NIODeadline

        /// What the metrics and the access log get for it.
        func record(status: Int, outcome: CacheOutcome) -> ExchangeRecord {
            FreshHit.record(head, route: context.route, isHEAD: isHEAD, started: started, status: status, outcome: outcome)
        }
    }

    static func record(_ head: HTTPRequestHead, route: Route, isHEAD: Bool, started: NIODeadline, status: Int,
                       outcome: CacheOutcome) -> ExchangeRecord {
        ExchangeRecord(method: isHEAD ? "HEAD" : "GET", target: head.uri, route: route.name, status: status, outcome: outcome,
                       micros: (NIODeadline.now() - started).nanoseconds / 1000)
    }

    static func answer(_ head: HTTPRequestHead, engine: ProxyEngine, settings: ProxySettings,
                       connection: any ClientConnection) -> Result {
        let isHEAD: Bool
        switch head.method {
        case .GET: isHEAD = false
        case .HEAD: isHEAD = true
        default: return .notAnswered(nil)
        }
        guard let target = RequestTarget(head.uri), !Exchange.leavesBasePath(target, settings.config) else {
            return .notAnswered(nil)
        }
        let started = NIODeadline.now()
        let plan = RequestClassifier.classify(method: isHEAD ? "HEAD" : "GET", target: target, headers: head.headers,
                                              hasBody: head.headers.contains(name: "transfer-encoding"),
                                              routes: settings.config.routes)
        guard case .cache(let route, let identity) = plan, !route.keyBody else { return .notAnswered(.plan(plan, target)) }
        let context = CacheContext(route: route, target: target, identity: identity, request: head, body: nil,
                                   engine: engine, settings: settings)
        let now = engine.clock.now()
        // L1 alone first: no `Pending`, no step. An entry it declines (stale, a 304, a
        // range…) goes to the exchange as found, not looked up again.
        if let entry = engine.store.localAnswer(context.key, now: now) {
            return serve(entry, head, route: route, isHEAD: isHEAD, started: started, now: now, engine: engine, settings: settings,
                         connection: connection).map { .answered(close: $0) }
                ?? .notAnswered(.found(context, engine.store.lookup(ofLocal: entry)))
        }
        let pending = Pending(head: head, context: context, isHEAD: isHEAD, started: started)
        switch engine.store.lookup(context.key, now: now, on: connection.eventLoop) {
        case .now(let found):
            return answer(found, pending, now: now, engine: engine, settings: settings, connection: connection)
                .map { .answered(close: $0) } ?? .notAnswered(.found(context, found))
        case let step:
            return .waiting(step, pending)
        }
    }

    /// The lookup is in: the answer's `close` when it was a fresh hit answered here, or
    /// nil, and an exchange goes on from `found` (`Exchange.Known.found`).
    static func answer(_ found: Lookup, _ pending: Pending, now: Timestamp, engine: ProxyEngine, settings: ProxySettings,
                       connection: any ClientConnection) -> Bool? {
        guard found.trouble == nil, found.staleSince == nil, let entry = found.entry else { return nil }
        return serve(entry, pending.head, route: pending.context.route, isHEAD: pending.isHEAD, started: pending.started, now: now,
                     engine: engine, settings: settings, connection: connection)
    }

    /// Writes `entry` as a fresh hit and records it, unless the exchange would do more:
    /// revalidate or fetch (not fresh), a 304 or 412 (preconditions), a range, decoding
    /// gzip for this client, a shadow verification (a route with `verify`).
    private static func serve(_ entry: CacheEntry, _ head: HTTPRequestHead, route: Route, isHEAD: Bool, started: NIODeadline,
                              now: Timestamp, engine: ProxyEngine, settings: ProxySettings, connection: any ClientConnection) -> Bool? {
        guard route.policy.verify == 0 else { return nil }
        let timing = entry.timing.within(route)
        guard case .fresh = ServeDecision.decide(timing, now: now, route: route, request: head.headers),
              !head.headers.hasPreconditions, !(!isHEAD && entry.status == 200 && head.headers.contains(name: "range"))
        else { return nil }
        let writer = ResponseWriter(connection: connection, isHEAD: isHEAD, version: head.version, request: head.headers)
        guard let form = StoredForm(kept: entry, acceptsGzip: !entry.isGzip || writer.acceptsGzip)
            ?? StoredForm(entry, decodedIn: RecentlyDecoded.kept(engine: engine, settings: settings), limit: Gzip.maxDecodedLength)
        else { return nil }
        let close = writer.hit(timing, form: form, range: .whole, now: now, staleDetail: nil)
        engine.finished(record(head, route: route, isHEAD: isHEAD, started: started, status: entry.status, outcome: .hit))
        return close
    }
}
