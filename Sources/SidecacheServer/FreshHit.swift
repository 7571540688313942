import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore

/// The hit path: a body-less GET or HEAD whose entry is in L1, valid against every
/// purge, fresh, and answered as stored, without an exchange. An exchange, its state
/// machine and its writer exist for requests that wait (on Redis, a fill, the
/// upstream) and for answers that need work; a fresh hit needs none of them, and
/// without them it takes 32 200 instructions instead of 37 000 (callgrind; BENCHMARKS,
/// "Twenty-ninth session"). Anything else goes to an exchange, with what was learned
/// on the way (the request's class, its key) so that nothing is worked out twice, and
/// the exchange answers it exactly as before.
enum FreshHit {
    enum Result {
        case answered(close: Bool)
        case notAnswered(Exchange.Known?)
    }

    static func answer(_ head: HTTPRequestHead, engine: ProxyEngine, settings: ProxySettings,
                       connection: any ClientConnection) -> Result {
        let isHEAD: Bool
        switch head.method {
        case .GET: isHEAD = false
        case .HEAD: isHEAD = true
        default: return .notAnswered(nil)
        }
        let method = isHEAD ? "HEAD" : "GET"
        guard engine.store.answersLocally, let target = RequestTarget(head.uri), !Exchange.leavesBasePath(target, settings.config) else {
            return .notAnswered(nil)
        }
        let started = NIODeadline.now()
        let plan = RequestClassifier.classify(method: method, target: target, headers: head.headers,
                                              hasBody: head.headers.contains(name: "transfer-encoding"),
                                              routes: settings.config.routes)
        guard case .cache(let route, let identity) = plan, !route.keyBody else { return .notAnswered(.plan(plan, target)) }
        let context = CacheContext(route: route, target: target, identity: identity, request: head, body: nil,
                                   engine: engine, settings: settings)
        let now = engine.clock.now()
        // What the exchange would do otherwise: revalidate or fetch (not fresh), a 304 or
        // 412 (preconditions), a range, decoding gzip for this client, a shadow
        // verification (a route with `verify`).
        guard let entry = engine.store.localAnswer(context.key, now: now), route.policy.verify == 0 else {
            return .notAnswered(.context(context))
        }
        let timing = entry.timing.within(route)
        guard case .fresh = ServeDecision.decide(timing, now: now, route: route, request: head.headers),
              !head.headers.hasPreconditions, !(!isHEAD && entry.status == 200 && head.headers.contains(name: "range"))
        else { return .notAnswered(.context(context)) }
        let writer = ResponseWriter(connection: connection, isHEAD: isHEAD, version: head.version,
                                    request: head.headers)
        guard let form = StoredForm(kept: entry, acceptsGzip: !entry.isGzip || writer.acceptsGzip) else {
            return .notAnswered(.context(context))
        }
        let close = writer.hit(timing, form: form, range: .whole, now: now, staleDetail: nil)
        engine.finished(ExchangeRecord(method: method, target: head.uri, route: route.name, status: entry.status, outcome: .hit,
                                       micros: (NIODeadline.now() - started).nanoseconds / 1000))
        return .answered(close: close)
    }
}
