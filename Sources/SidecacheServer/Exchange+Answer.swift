import NIOCore
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// How a forwarded answer is marked.
enum ForwardMarker {
    /// No cache route applies.
    case pass
    /// A cache route, but this request may not use the cache.
    case bypass(BypassReason)

    var cacheStatus: String {
        switch self {
        case .pass: "sidecache; fwd=bypass"
        case .bypass(let reason): CacheStatusField.bypass(reason)
        }
    }
}

extension Exchange {
    /// Sends the head of an answer whose body streams, choosing the framing.
    func streamHead(_ h: UpstreamResponseHead, cacheStatus: String, xCache: CacheOutcome) {
        status = h.status
        let noBody = isHEAD || h.status == 204 || h.status == 304 || h.status < 200
        let upstreamLength = HeaderList(h.headers).first("content-length")
        let chunkedUpstream = HeaderList(h.headers).contains("transfer-encoding")
        let framing: BodyFraming
        if noBody {
            framing = .none
        } else if upstreamLength != nil && !chunkedUpstream {
            framing = .length
        } else if head.version.minor >= 1 && head.version.major == 1 {
            framing = .chunked
        } else {
            framing = .untilClose
        }

        var buffer = connection.allocator.buffer(capacity: 1024)
        buffer.writeStatusLine(status: h.status, reason: h.reason)
        for line in ForwardHeaders.response(h.headers, forStorage: false) { buffer.writeHeader(line.name, line.value) }
        buffer.writeStaticString("X-Cache: ")
        buffer.writeString(xCache.rawValue)
        buffer.writeStaticString("\r\n")
        buffer.writeHeader(CacheStatusField.name, cacheStatus)
        switch framing {
        case .length:
            buffer.writeHeader("Content-Length", upstreamLength!.trimmingSpaces())
        case .none where h.status != 204 && h.status >= 200 && !chunkedUpstream:
            // HEAD and 304 describe the body they did not send.
            if let upstreamLength { buffer.writeHeader("Content-Length", upstreamLength.trimmingSpaces()) }
        case .chunked:
            buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
        case .none, .untilClose:
            break
        }
        let close = connection.closesAfterResponse || { if case .untilClose = framing { true } else { false } }()
        writeConnectionHeader(&buffer, close: close)
        buffer.writeStaticString("\r\n")
        connection.writeAndFlush(buffer, written: nil)
        response = .streaming(framing)
    }

    /// A fill completed: build the pre-encoded entry, store it unless a purge overtook
    /// the fill, then answer from the same bytes.
    func storeAndAnswer(_ h: UpstreamResponseHead, timing: EntryTiming, body collected: ByteBuffer, fill: FillContext) {
        response = .done
        var body = collected
        if body.capacity > body.readableBytes {
            // Stored bodies hold exactly their bytes, so the byte budget is the memory used.
            var exact = connection.allocator.buffer(capacity: body.readableBytes)
            exact.writeImmutableBuffer(body)
            body = exact
        }
        let lines = ForwardHeaders.response(h.headers, forStorage: true)
        commit(status: h.status, reason: h.reason, lines: lines, body: body, timing: timing, fill: fill) { exchange, entry, cacheStatus in
            exchange.answerFill(entry, status: cacheStatus)
        }
    }

    /// RFC 9111 §4.3.4: the upstream confirmed a stored answer with 304. Its headers
    /// update the stored ones, freshness is computed anew, the body stays.
    func refreshed(_ stored: CacheEntry, by h: UpstreamResponseHead, fill: FillContext, now: Timestamp) {
        response = .committing
        let old = stored.storedHead()
        let merged = Validators.merge(stored: old.lines, notModified: ForwardHeaders.response(h.headers, forStorage: true))
        let decision = StoragePolicy.decide(route: fill.route, requestHeaders: head.headers, status: old.status,
                                            responseHeaders: HeaderList(merged), requestTime: fill.requestTime, responseTime: now,
                                            varyHeaders: cache?.varyHeaders ?? [])
        guard case .store(let timing) = decision else {
            // Confirmed but no longer storable: answer with it once, keep nothing.
            landFlight(.fetchYourself(uncacheable: true))
            answerFromCache(stored, now: now)
            return
        }
        commit(status: old.status, reason: old.reason, lines: merged, body: stored.body, timing: timing, fill: fill) { exchange, entry, _ in
            exchange.answerFromCache(entry, now: exchange.engine.clock.now())
        }
    }

    /// Stores a new entry (L1, and Redis by compare-and-set when shared) unless a purge
    /// overtook the fill, lands the flight, then calls `answer` on the event loop.
    /// DESIGN: a filled entry is in Redis before its client has the answer.
    private func commit(status: Int, reason: String, lines: [(name: String, value: String)], body: ByteBuffer,
                        timing: EntryTiming, fill: FillContext,
                        answer: @escaping @Sendable (Exchange, CacheEntry, String) -> Void) {
        var entryHead = connection.allocator.buffer(capacity: lines.reduce(64) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        entryHead.writeStatusLine(status: status, reason: reason)
        for line in lines where !line.name.equalsIgnoringASCIICase("transfer-encoding") { entryHead.writeHeader(line.name, line.value) }
        if status != 204 && status != 304 { entryHead.writeHeader("Content-Length", body.readableBytes) }
        let tagIDs = PurgeScope.tagIDs(PurgeScope.tags(HeaderList(lines)))
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        engine.store.commit(fill.key, status: status, timing: timing, head: entryHead, body: body, scopeIDs: fill.scopeIDs,
                            tagIDs: tagIDs, under: fill.guarded, now: engine.clock.now(), on: connection.eventLoop)
            .whenReady { committed in
                let exchange = me.value
                if let trouble = committed.trouble { exchange.storeTrouble(trouble) }
                let cacheStatus: String
                switch committed.outcome {
                case .stored:
                    exchange.landFlight(.stored)
                    cacheStatus = CacheStatusField.miss(stored: true)
                case .storedLocally:
                    exchange.landFlight(.stored)
                    cacheStatus = CacheStatusField.missStoredLocally
                case .purged:
                    exchange.landFlight(.fetchYourself(uncacheable: false))
                    cacheStatus = CacheStatusField.miss(stored: false, notStored: .purged)
                case .tooLarge:
                    exchange.landFlight(.fetchYourself(uncacheable: true))
                    cacheStatus = CacheStatusField.miss(stored: false, notStored: .tooLarge)
                }
                if !exchange.finished { answer(exchange, committed.entry, cacheStatus) }
            }
    }

    /// Answers a completed fill from the entry's bytes.
    func answerFill(_ entry: CacheEntry, status cacheStatus: String) {
        status = entry.status
        var lines = connection.allocator.buffer(capacity: 128)
        lines.writeStaticString("X-Cache: MISS\r\n")
        lines.writeHeader(CacheStatusField.name, cacheStatus)
        writeStored(entry, lines: &lines)
    }
}
