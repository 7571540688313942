import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// What a request on a cache route is about: its route, key and path.
struct CacheContext {
    let route: Route
    let key: CacheKey
    let target: RequestTarget
    /// Headers learned from the upstream's `Vary` that this key includes.
    let varyHeaders: [String]

    /// The purge scopes an entry here belongs to. Computed only when needed (fills,
    /// flights), never on a plain hit.
    var scopeIDs: [UInt64] { PurgeScope.ids(route: route.name, path: route.spelling.canonical(target.path)) }
}

/// One request, from classification to the last byte of its answer. Lives on the
/// connection's event loop. It asks the core what to do and carries it out:
/// answer from the cache, fill (fetch, store, answer) or forward.
final class Exchange {
    let engine: ProxyEngine
    /// The config this exchange runs under, start to end (a reload does not change it midway).
    let settings: ProxySettings
    let connection: any ClientConnection
    let head: HTTPRequestHead
    let body: ByteBuffer?
    let method: String
    let target: RequestTarget?
    var transfer: UpstreamTransfer?
    var mode: UpstreamMode?
    var response: ResponseState = .waiting
    var finished = false
    /// The cache route this request matched, if any (a metric label).
    var route: Route?
    /// What the cache did, reported once when the exchange finishes.
    var outcome = CacheOutcome.bypass
    /// When the upstream request started, for the latency histogram.
    var upstreamStarted: ContinuousClock.Instant?
    /// The status sent to the client, for the access log.
    var status = 0
    let started = ContinuousClock.now

    /// A client's request, or the proxy's own refresh of an entry (background
    /// revalidation, warming, the admin API), which always fetches and stores.
    enum Purpose { case client, refresh }
    let purpose: Purpose

    /// Set once the request is known to use the cache.
    var cache: CacheContext?
    /// A stored answer that may still answer if the fetch fails (stale-if-error).
    var staleFallback: CacheEntry?
    /// A stored answer being revalidated with a conditional request.
    var revalidating: CacheEntry?
    /// The flight this exchange leads, if it leads one.
    var flight: UInt64?
    /// The flight this exchange waits on, and the bound on that wait.
    var waiting: (id: UInt64, timer: Scheduled<Void>)?
    /// Already waited on someone's fill once: never queue again, fetch instead.
    var joined = false
    /// The purge scopes of the cache key's entries, computed once and only on a miss.
    lazy var scopeIDs: [UInt64] = cache?.scopeIDs ?? []

    init(engine: ProxyEngine, settings: ProxySettings, connection: any ClientConnection, head: HTTPRequestHead, body: ByteBuffer?,
         purpose: Purpose = .client) {
        self.engine = engine
        self.settings = settings
        self.connection = connection
        self.head = head
        self.body = body
        self.method = head.method.rawValue
        self.target = RequestTarget(head.uri)
        self.purpose = purpose
    }

    var isHEAD: Bool { head.method == .HEAD }

    func start() {
        guard target != nil || (head.uri == "*" && head.method == .OPTIONS) else {
            fail(.badRequest("the request target must be a path starting with /"))
            return
        }
        let plan = RequestClassifier.classify(method: method, target: target, headers: head.headers,
                                              hasBody: body != nil || head.headers.contains(name: "transfer-encoding"),
                                              routes: settings.config.routes)
        switch plan {
        case .cache(let route, let identity):
            guard let target else {   // classify caches origin-form targets only
                forward(route: nil, marker: .pass)
                return
            }
            self.route = route
            let vary = engine.vary.headers(for: route.name)
            let key = CacheKeyBuilder.key(route: route, host: head.headers.first(name: "host") ?? "", target: target,
                                          headers: head.headers, identity: identity, varyHeaders: vary)
            let context = CacheContext(route: route, key: key, target: target, varyHeaders: vary)
            cache = context
            lookup(context)
        case .bypass(let route, let reason):
            self.route = route
            engine.metrics.bypass(route: route.name, reason: reason)
            forward(route: route, marker: .bypass(reason))
        case .pass:
            forward(route: nil, marker: .pass)
        }
    }

    /// The hit path: one shard lookup, one atomic purge check, stored bytes out (with
    /// Redis in strict mode, after one small confirmation round trip).
    func lookup(_ context: CacheContext) {
        let now = engine.clock.now()
        if purpose == .refresh {
            refresh(context, now: now)
            return
        }
        switch engine.store.lookup(context.key, scopes: { scopeIDs }, now: now, on: connection.eventLoop) {
        case .now(let found):
            considerLookup(found, context, now: now)
        case .later(let future):
            let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
            future.whenSuccess { found in
                let exchange = me.value
                guard !exchange.finished else { return }
                exchange.considerLookup(found, context, now: exchange.engine.clock.now())
            }
        }
    }

    private func considerLookup(_ found: Lookup, _ context: CacheContext, now: Timestamp) {
        if let trouble = found.trouble { storeTrouble(trouble) }
        consider(found.entry, context, now: now, generations: found.sharedGuard)
    }

    /// Redis trouble during this request, reported in one place: the request went on
    /// without L2 (answered from L1 or the upstream); the route counts a `store-error`
    /// bypass of the shared tier and the store an error, and the log says what happened.
    func storeTrouble(_ trouble: StoreTrouble) {
        engine.metrics.storeError(store: "redis")
        if let route { engine.metrics.bypass(route: route.name, reason: .storeError) }
        if trouble.kind == .corruptEntry {
            engine.logger.warning("undecodable entry in redis (foreign, corrupt or badly framed): treated as a miss",
                                  metadata: ["route": "\(route?.name ?? "-")"])
        } else {
            engine.logger.debug("redis not used for this request", metadata: ["route": "\(route?.name ?? "-")", "why": "\(trouble)"])
        }
    }

    /// Stored head, then Age/X-Cache/Cache-Status in a reused buffer, then the stored
    /// body: no encoding work per hit. `staleDetail` marks a stale answer and why.
    func writeHit(_ entry: CacheEntry, now: Timestamp, staleDetail: StaticString? = nil) {
        outcome = staleDetail == nil ? .hit : .stale
        status = entry.status
        var lines = connection.scratchBuffer()
        lines.writeHeader("Age", Int(entry.timing.age(at: now).wholeSeconds))
        lines.writeStaticString(staleDetail == nil ? "X-Cache: HIT\r\n" : "X-Cache: STALE\r\n")
        lines.writeStaticString("Cache-Status: sidecache; hit; ttl=")
        lines.writeDecimal(entry.timing.remaining(at: now).milliseconds / 1000)
        if let staleDetail {
            lines.writeStaticString("; detail=")
            lines.writeStaticString(staleDetail)
        }
        lines.writeStaticString("\r\n")
        writeStored(entry, lines: &lines)
    }

    /// The stored head, the per-answer `lines` (closed here with the connection header
    /// and the blank line), then the stored body unless HEAD; one flush.
    func writeStored(_ entry: CacheEntry, lines: inout ByteBuffer) {
        let close = connection.closesAfterResponse
        writeConnectionHeader(&lines, close: close)
        lines.writeStaticString("\r\n")
        connection.write(entry.head)
        if isHEAD {
            connection.writeAndFlush(lines, written: nil)
        } else {
            connection.write(lines)
            connection.writeAndFlush(entry.body, written: nil)
        }
        finish(close: close)
    }

    func writeConnectionHeader(_ buffer: inout ByteBuffer, close: Bool) {
        if close {
            buffer.writeStaticString("Connection: close\r\n")
        } else if head.version.minor == 0 {
            buffer.writeStaticString("Connection: keep-alive\r\n")
        }
    }

    /// Answers with the proxy's own JSON error.
    func fail(_ error: ProxyError) {
        guard !finished else { return }
        status = error.status
        let close = error.closesConnection || connection.closesAfterResponse
        connection.writeAndFlush(error.encode(allocator: connection.allocator, close: close), written: nil)
        finish(close: close)
    }

    func finish(close: Bool) {
        guard !finished else { return }
        finished = true
        landFlight(.fetchYourself(uncacheable: false))   // a leader that answered without landing frees its waiters
        // Requests count, the proxy's own refreshes (warming, revalidation, admin) do not.
        if purpose == .client {
            engine.finished(ExchangeRecord(method: method, target: head.uri, route: route?.name, status: status,
                                           outcome: outcome, duration: ContinuousClock.now - started))
        }
        connection.responseFinished(close: close)
    }

    /// The client went away: stop the upstream transfer, nothing more to write.
    func clientGone() {
        finished = true
        transfer?.cancel()
        stopWaiting()
        landFlight(.fetchYourself(uncacheable: false))
    }
}
