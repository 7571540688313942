import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// The one place that writes an answer's bytes to the client: stored entries with their
/// per-answer lines, 304s from the cache, the proxy's own errors, and streamed answers
/// (head, body chunks in their framing, end). Each complete answer returns whether the
/// connection closes after it.
struct ResponseWriter {
    let connection: any ClientConnection
    let isHEAD: Bool
    let version: HTTPVersion
    /// The request's headers: read only for a gzip entry, to learn whether the client takes gzip.
    let request: HTTPHeaders

    var acceptsGzip: Bool {
        var acceptance = ContentCoding.GzipAcceptance()
        for field in request where field.name.equalsIgnoringASCIICase("accept-encoding") && acceptance.read(field.value) { break }
        return acceptance.accepts
    }

    /// Stored head, then Age/X-Cache/Cache-Status, then the stored body: no encoding work
    /// per hit. `timing`: the entry's, as its route serves it now. `staleDetail` marks a
    /// stale answer and why. `form` is the entry's bytes this client gets
    /// (`Exchange.form(of:)`), `range` its part. `revalidated`: the upstream confirmed it
    /// with a 304 just now (`Cache-Status` says it was forwarded).
    func hit(_ timing: EntryTiming, form: StoredForm, range: RangeAnswer, now: Timestamp, staleDetail: StaticString?,
             revalidated: Bool = false) -> Bool {
        // At most 130 bytes below (two decimals of 20) and the stale detail, then the 26 of
        // `stored`'s connection line and blank line: no reallocation.
        let room = 160 + (staleDetail?.utf8CodeUnitCount ?? 0)
        var lines = answerBuffer(form, range: range, room: room)
        // A stale answer's freshness is spent (RFC 9211 §2.5: negative when stale), also
        // an entry a soft purge made stale before its own lifetime ran out.
        let remaining = timing.remainingSeconds(at: now)
        lines.writeAssembled(room: room) { out in
            out.append("Age: ")
            out.append(decimal: Int(timing.ageSeconds(at: now)))
            out.append(staleDetail == nil ? "\r\nX-Cache: HIT\r\n" : "\r\nX-Cache: STALE\r\n")
            // As `CacheStatusField.hit` and `.revalidated` spell them, without building a String.
            out.append(revalidated ? "Cache-Status: sidecache; fwd=stale; fwd-status=304; ttl=" : "Cache-Status: sidecache; hit; ttl=")
            out.append(decimal: staleDetail == nil ? remaining : min(remaining, 0))
            if let staleDetail {
                out.append("; detail=")
                out.append(staleDetail)
            }
            out.append("\r\n")
        }
        return stored(form, range: range, lines: &lines, now: now)
    }

    /// A completed fill, from the bytes just stored, with the age the upstream gave it
    /// (RFC 9111 §5.1: the upstream's `Age` is kept).
    func filled(_ entry: CacheEntry, form: StoredForm, range: RangeAnswer, now: Timestamp, cacheStatus: String) -> Bool {
        var lines = answerBuffer(form, range: range, room: 128 + cacheStatus.utf8.count)
        let age = Int(entry.timing.ageSeconds(at: now))
        if age > 0 { lines.writeHeader("Age", age) }
        lines.writeStaticString("X-Cache: MISS\r\n")
        lines.writeHeader(CacheStatusField.name, cacheStatus)
        return stored(form, range: range, lines: &lines, now: now)
    }

    /// Bodies up to this size are copied behind the head, so that a whole answer leaves
    /// in one write: each NIO write costs more than copying a few KiB (callgrind,
    /// BENCHMARKS.md, issue 13). Larger ones go out as stored, without a copy.
    static let gatheredBodyLimit = 8 << 10

    /// The buffer an answer from `form` is written in, `room` bytes for its own lines. For
    /// a whole answer it starts with the stored head and has room for a gathered body
    /// too; a range rebuilds the head (`part`), so it gets the lines alone.
    private func answerBuffer(_ form: StoredForm, range: RangeAnswer, room: Int) -> ByteBuffer {
        guard case .whole = range else { return connection.allocator.buffer(capacity: room) }
        let body = isHEAD || form.body.readableBytes > Self.gatheredBodyLimit ? 0 : form.body.readableBytes
        var buffer = AnswerBuffer.take(capacity: form.head.readableBytes + room + body, allocator: connection.allocator)
        buffer.writeImmutableBuffer(form.head)
        return buffer
    }

    /// The client's validators match the stored entry: 304 with its validator fields.
    /// `decoded`: the client is sent the entry's gzip decoded, whose `ETag` is weak
    /// (RFC 9110 §8.8.3) — a 304 with the strong one would validate another representation.
    func notModified(_ entry: CacheEntry, stored: [(name: String, value: String)], now: Timestamp, decoded: Bool,
                     mark: CacheMark) -> Bool {
        var buffer = connection.allocator.buffer(capacity: 256)
        buffer.writeStatusLine(status: 304, reason: "Not Modified")
        for line in stored where Validators.notModifiedFields.contains(line.name) {
            let weakens = decoded && line.name.equalsIgnoringASCIICase("etag")
            buffer.writeHeader(line.name, weakens ? ContentCoding.weakened(line.value) : line.value)
        }
        buffer.writeHeader("Age", Int(entry.timing.ageSeconds(at: now)))
        mark.write(into: &buffer)
        let close = connection.closesAfterResponse
        writeConnectionHeader(&buffer, close: close)
        buffer.writeStaticString("\r\n")
        connection.writeAndFlush(buffer, written: nil)
        return close
    }

    /// The proxy's own JSON error, dated `now`.
    func error(_ error: ProxyError, mark: CacheMark?, now: Timestamp) -> Bool {
        let close = error.closesConnection || connection.closesAfterResponse
        connection.writeAndFlush(error.encode(allocator: connection.allocator, close: close, http10: version.minor == 0, headOnly: isHEAD,
                                              now: now, mark: mark),
                                 written: nil)
        return close
    }

    /// The stored head, the per-answer `lines` (closed here with the connection header
    /// and the blank line), then the stored body unless HEAD; one flush.
    private func stored(_ form: StoredForm, range: RangeAnswer, lines: inout ByteBuffer, now: Timestamp) -> Bool {
        guard case .whole = range else { return part(form, range: range, lines: &lines, now: now) }
        let close = connection.closesAfterResponse
        writeConnectionHeader(&lines, close: close)
        lines.writeStaticString("\r\n")
        if isHEAD {
            connection.writeAndFlush(lines, written: nil)
        } else if form.body.readableBytes <= Self.gatheredBodyLimit {
            lines.writeImmutableBuffer(form.body)
            connection.writeAndFlush(lines, written: nil)
        } else {
            connection.write(lines)
            connection.writeAndFlush(form.body, written: nil)
        }
        AnswerBuffer.keep(lines)
        return close
    }

    /// 206 with the range's bytes and `Content-Range`, or 416 with the length: the
    /// stored head rebuilt around them (a rare path). The 416 is the proxy's own answer,
    /// dated `now` (RFC 9110 §6.6.1); a 206 keeps the stored `Date`, as a 200 does.
    private func part(_ form: StoredForm, range: RangeAnswer, lines: inout ByteBuffer, now: Timestamp) -> Bool {
        let length = form.body.readableBytes
        var head = connection.allocator.buffer(capacity: form.head.readableBytes + lines.readableBytes + 64)
        var body: ByteBuffer?
        if case .partial(let bytes) = range {
            head.writeStatusLine(status: 206, reason: "Partial Content")
            for line in CacheEntry.parseHead(form.head).lines { head.writeHeader(line.name, line.value) }
            head.writeHeader("Content-Range", "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(length)")
            head.writeHeader("Content-Length", bytes.count)
            body = form.body.getSlice(at: form.body.readerIndex + bytes.lowerBound, length: bytes.count)
        } else {
            head.writeStatusLine(status: 416, reason: "Range Not Satisfiable")
            head.writeHeader("Date", HTTPDate.format(now))
            head.writeHeader("Content-Range", "bytes */\(length)")
            head.writeStaticString("Content-Length: 0\r\n")
        }
        head.writeImmutableBuffer(lines)
        let close = connection.closesAfterResponse
        writeConnectionHeader(&head, close: close)
        head.writeStaticString("\r\n")
        if let body {
            connection.write(head)
            connection.writeAndFlush(body, written: nil)
        } else {
            connection.writeAndFlush(head, written: nil)
        }
        return close
    }

    /// A 1xx (100 Continue, 103 Early Hints) ahead of the final answer, with the lines
    /// that may cross the proxy.
    func interim(_ h: UpstreamResponseHead) {
        var buffer = connection.allocator.buffer(capacity: 256)
        buffer.writeStatusLine(status: h.status, reason: h.reason)
        ForwardHeaders.forEachResponseLine(h.headers, forStorage: false) { buffer.writeHeader($0.name, $0.value) }
        buffer.writeStaticString("\r\n")
        connection.writeAndFlush(buffer, written: nil)
    }

    // MARK: Streamed answers

    /// The head of an answer whose body streams, in `start.framing`. `date`: its `Date`,
    /// should the upstream have sent none.
    func head(_ start: ExchangeStateMachine.StreamStart, date: () -> String?) {
        let h = start.head
        let headers = HeaderList(h.headers)
        let upstreamLength = headers.first("content-length")
        var buffer = connection.allocator.buffer(capacity: 1024)
        buffer.writeStatusLine(status: h.status, reason: h.reason)
        ForwardHeaders.forEachResponseLine(h.headers, forStorage: false, dateIfMissing: date) { buffer.writeHeader($0.name, $0.value) }
        start.mark.write(into: &buffer)
        switch start.framing {
        case .length:
            buffer.writeHeader("Content-Length", upstreamLength!.trimmingSpaces())
        case .none where h.status != 204 && h.status >= 200 && !headers.contains("transfer-encoding"):
            // HEAD and 304 describe the body they did not send.
            if let upstreamLength { buffer.writeHeader("Content-Length", upstreamLength.trimmingSpaces()) }
        case .chunked:
            buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
        case .none, .untilClose:
            break
        }
        writeConnectionHeader(&buffer, close: closesAfter(start.framing))
        buffer.writeStaticString("\r\n")
        connection.writeAndFlush(buffer, written: nil)
    }

    /// One chunk in the answer's framing; `written` runs once it left (which is what
    /// paces the upstream for big bodies), or at once when nothing is sent.
    func body(_ chunk: ByteBuffer, framing: BodyFraming, written: (@Sendable () -> Void)?) {
        guard chunk.readableBytes > 0 else {
            written?()
            return
        }
        switch framing {
        case .none:
            written?()
        case .length, .untilClose:
            connection.writeAndFlush(chunk, written: written)
        case .chunked:
            var size = connection.allocator.buffer(capacity: 12)
            size.writeChunkHeader(chunk.readableBytes)
            connection.write(size)
            connection.write(chunk)
            var crlf = connection.allocator.buffer(capacity: 2)
            crlf.writeStaticString("\r\n")
            connection.writeAndFlush(crlf, written: written)
        }
    }

    /// The body is complete.
    func end(_ framing: BodyFraming) -> Bool {
        if case .chunked = framing {
            var last = connection.allocator.buffer(capacity: 5)
            last.writeStaticString("0\r\n\r\n")
            connection.writeAndFlush(last, written: nil)
        }
        return closesAfter(framing)
    }

    private func closesAfter(_ framing: BodyFraming) -> Bool {
        connection.closesAfterResponse || framing.closes
    }

    private func writeConnectionHeader(_ buffer: inout ByteBuffer, close: Bool) {
        if close {
            buffer.writeStaticString("Connection: close\r\n")
        } else if version.minor == 0 {
            buffer.writeStaticString("Connection: keep-alive\r\n")
        }
    }
}
