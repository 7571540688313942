import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

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

    init(engine: ProxyEngine, connection: any ClientConnection, head: HTTPRequestHead, body: ByteBuffer?) {
        self.engine = engine
        self.settings = engine.settings
        self.connection = connection
        self.head = head
        self.body = body
        self.method = head.method.rawValue
        self.target = RequestTarget(head.uri)
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
            self.route = route
            lookup(route: route, identity: identity)
        case .bypass(let route, let reason):
            self.route = route
            engine.metrics.bypass(route: route.name, reason: reason)
            forward(route: route, marker: .bypass(reason))
        case .pass:
            forward(route: nil, marker: .pass)
        }
    }

    /// The hit path: key, one shard lookup, one atomic purge check, stored bytes out.
    private func lookup(route: Route, identity: Substring?) {
        let target = target!
        let key = CacheKeyBuilder.key(route: route, host: head.headers.first(name: "host") ?? "", target: target,
                                      headers: head.headers, identity: identity)
        let now = engine.clock.now()
        if let redis = engine.redis {
            tieredLookup(redis, route: route, key: key, target: target, now: now)
            return
        }
        if let entry = engine.memory.get(key, now: now), engine.ledger.isValid(entry), entry.timing.isFresh(at: now) {
            writeHit(entry, now: now)
            return
        }
        fill(route: route, key: key, target: target, now: now, fillSeq: engine.ledger.current, generations: nil)
    }

    func writeHit(_ entry: CacheEntry, now: Timestamp) {
        outcome = .hit
        status = entry.status
        var lines = connection.scratchBuffer()
        lines.writeHeader("Age", Int(entry.timing.age(at: now).wholeSeconds))
        lines.writeStaticString("X-Cache: HIT\r\nCache-Status: sidecache; hit; ttl=")
        lines.writeDecimal(entry.timing.remaining(at: now).milliseconds / 1000)
        lines.writeStaticString("\r\n")
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
        engine.metrics.finished(ExchangeRecord(method: method, target: head.uri, route: route?.name, status: status,
                                               outcome: outcome, duration: ContinuousClock.now - started))
        connection.responseFinished(close: close)
    }

    /// The client went away: stop the upstream transfer, nothing more to write.
    func clientGone() {
        finished = true
        transfer?.cancel()
    }
}
