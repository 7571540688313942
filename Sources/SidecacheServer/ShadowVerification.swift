import Logging
import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// Shadow verification (DESIGN "Beyond purge rules", `verify`): a share of fresh hits is
/// fetched again from the upstream in the background, and the answer is compared with
/// the entry by status and body hash. A difference means a key that misses a part of
/// the request the upstream reads, or a purge that never came: the entry is dropped,
/// logged with its route and key digest, and counted. The client is never delayed.
///
/// Bodies are compared decoded (the entry may be stored gzipped, the upstream asked
/// for identity). An upstream that fails, or answers with a status a duration route
/// never stores (a 406, 401 or 429, a 5xx), says nothing about the entry and is not a
/// mismatch: the check is sent with the sampled client's headers, and a client sending
/// ones outside the key (`Accept: x/y`) made it answer 406 and drop a good entry for
/// everyone, again on every sampled hit.
final class ShadowVerification {
    private let engine: ProxyEngine
    private let route: Route
    private let key: CacheKey
    private let entry: CacheEntry
    private let allocator: ByteBufferAllocator
    private let loop: any EventLoop
    private var status = 0
    private var coding = ""
    private var body: ByteBuffer
    /// `body`'s share of `limits.bodyMemory`.
    private let hold: BodyMemory.Hold
    private var transfer: UpstreamTransfer?
    /// Given up (too large, or no memory for its body): what else arrives, its end
    /// among it, compares nothing. A partial body compared would drop a good entry.
    private var abandoned = false

    /// Fetches `uri` as a fill would (the client's headers, less conditionals and
    /// URL overrides) and compares the answer with `entry` when it ends.
    static func start(engine: ProxyEngine, route: Route, key: CacheKey, entry: CacheEntry, uri: String,
                      request: HTTPHeaders, clientAddress: String?, on loop: any EventLoop) {
        guard engine.verifications.wrappingAdd(1, ordering: .relaxed).newValue <= maxInFlight else {
            engine.verifications.wrappingSubtract(1, ordering: .relaxed)
            return   // a check can wait for the next sampled hit
        }
        let upstream = engine.settings.config.upstream
        var headers = ForwardHeaders.request(request, clientAddress: clientAddress, fallbackHost: engine.settings.config.defaultHost,
                                             forFill: true, requestID: ForwardHeaders.newRequestID)
        ForwardHeaders.accept("identity", in: &headers)
        let upstreamRequest = engine.upstreamRequest(upstream, method: "GET", uri: uri, headers: headers, body: nil,
                                                     timeout: route.policy.upstreamTimeout)
        let check = ShadowVerification(engine: engine, route: route, key: key, entry: entry, loop: loop)
        let bound = NIOLoopBound(check, eventLoop: loop)
        check.transfer = engine.upstream.execute(upstreamRequest, on: loop) { events in events.forEach(bound.value.received) }
    }

    /// Checks under way at once across the process. Each holds an upstream connection
    /// and a body: sampled hits against a slow upstream started one for every hit, past
    /// 2 000 descriptors, until accepts and connects failed for every client.
    static let maxInFlight = 32

    deinit { engine.verifications.wrappingSubtract(1, ordering: .relaxed) }

    private init(engine: ProxyEngine, route: Route, key: CacheKey, entry: CacheEntry, loop: any EventLoop) {
        self.engine = engine
        self.route = route
        self.key = key
        self.entry = entry
        self.loop = loop
        self.allocator = ByteBufferAllocator()
        self.body = allocator.buffer(capacity: 0)
        self.hold = engine.bodies.hold(within: engine.settings.config.limits.bodyMemory)
    }

    private func received(_ event: UpstreamEvent) {
        guard !abandoned else { return }
        switch event {
        case .interim:
            break
        case .head(let head):
            status = head.status
            coding = ContentCoding.coding(HeaderList(head.headers))
        case .body(let chunk):
            transfer?.consumed(chunk.readableBytes)
            let total = body.readableBytes + chunk.readableBytes
            // Larger than anything stored: not this entry's answer to compare. Or no
            // memory for it: a check can wait, the memory is for answers.
            guard total <= route.policy.maxBodySize, hold.grow(to: total) else {
                abandoned = true
                transfer?.cancel()
                return
            }
            body.writeImmutableBuffer(chunk)
        case .end:
            compare()
        case .failure:
            break
        }
    }

    private func compare() {
        guard StoragePolicy.storableStatuses.contains(status) else { return }
        let stored = entry.storedHead()
        let limit = route.policy.maxBodySize
        let storedCoding = ContentCoding.coding(HeaderList(stored.lines))
        if status == entry.status {
            // A coding the check does not decode (a `br` entry: it asks for identity) proves
            // nothing either way: every br entry was dropped as a mismatch. A body that
            // fails to decode (corrupt, or inflating past `maxBodySize`) is a difference.
            guard Self.decodes(storedCoding), Self.decodes(coding) else { return }
            if let entryBody = Self.decoded(entry.body, coding: storedCoding, limit: limit, allocator),
               let fetched = Self.decoded(body, coding: coding, limit: limit, allocator),
               Self.digest(entryBody) == Self.digest(fetched) {
                return
            }
        }
        engine.store.drop(key, on: loop)
        engine.metrics.verifyMismatch(route: route.name)
        engine.logger.warning("shadow verification: the upstream answers differently from the cached entry; entry dropped", metadata: [
            "route": "\(route.name)", "key": "\(key)", "status": "\(entry.status) -> \(status)",
        ])
    }

    private static func decodes(_ coding: String) -> Bool { coding.isEmpty || coding == "gzip" || coding == "x-gzip" }

    private static func decoded(_ body: ByteBuffer, coding: String, limit: Int, _ allocator: ByteBufferAllocator) -> ByteBuffer? {
        switch coding {
        case "": body
        case "gzip", "x-gzip": try? Gzip.decompress(body, allocator: allocator, limit: limit)
        default: nil
        }
    }

    private static func digest(_ body: ByteBuffer) -> BodyHash {
        body.withUnsafeReadableBytes { BodyHash($0) }
    }
}
