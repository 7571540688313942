import NIOCore
import SidecacheCore
import SidecacheStore

/// The bytes of an entry one client gets: the head (status line and header lines with
/// their `Content-Length`, no blank line) and the body.
struct StoredForm {
    let head: ByteBuffer
    let body: ByteBuffer
}

extension StoredForm {
    /// `entry` as a client that does or does not take gzip gets it, when that form is
    /// at hand: the stored bytes, or a gzip entry's decoded form already kept with it.
    /// Nil when the body must be decoded first (`Exchange.form(of:)`).
    init?(kept entry: CacheEntry, acceptsGzip: Bool) {
        if !entry.isGzip || acceptsGzip {
            self.init(head: entry.head, body: entry.body)
        } else if let kept = entry.decoded {
            self.init(head: kept.head, body: kept.body)
        } else {
            return nil
        }
    }

    /// The decoded form of a gzip `entry` that `recent` holds, within `limit`.
    init?(_ entry: CacheEntry, decodedIn recent: RecentlyDecoded?, limit: Int) {
        guard let known = recent?.form(head: entry.head, body: entry.body), known.body.readableBytes <= limit else { return nil }
        self.init(head: known.head, body: known.body)
    }
}

extension Exchange {
    /// `entry` as this client takes it: the stored bytes, or — a gzip entry for a client
    /// without gzip — its decoded form, made once per entry and kept with it (the L1
    /// charged for it). Nil when a gzip body does not decompress within `limit`: a fill's
    /// answer fresh from the upstream is held to the route's `maxBodySize`; an entry from
    /// the store only to `Gzip.maxDecodedLength`, since its fill held it to the limit of
    /// its day, and a reload that lowers it must not turn the entries stored before into
    /// a 502 for every client without gzip.
    ///
    /// `identity` is the body before it was gzipped, when this exchange gzipped it at
    /// fill time: the fill's own answer is made from it, without inflating, and not
    /// kept: an entry pays for a second form only once a plain client hits it.
    func form(of entry: CacheEntry, identity: ByteBuffer? = nil, decodingUpTo limit: Int) -> StoredForm? {
        if let kept = StoredForm(kept: entry, acceptsGzip: !entry.isGzip || writer.acceptsGzip) { return kept }
        if let identity { return decodedHead(of: entry, length: identity.readableBytes).map { StoredForm(head: $0, body: identity) } }
        // No L1 to keep the form with the entry: a thread's recent ones stand in.
        let recent = RecentlyDecoded.kept(engine: engine, settings: settings)
        if let known = StoredForm(entry, decodedIn: recent, limit: limit) { return known }
        guard let body = try? Gzip.decompress(entry.body, allocator: connection.allocator, limit: limit),
              let head = decodedHead(of: entry, length: body.readableBytes) else { return nil }
        let decoded = CacheEntry.Decoded(head: head, body: body)
        if entry.keepDecoded(decoded), let key = machine.context?.key {
            engine.store.memory.charge(key, entry, bytes: decoded.cost)
        }
        recent?.keep(RecentlyDecoded.Form(storedHead: entry.head, storedBody: entry.body, head: head, body: body))
        return StoredForm(head: head, body: body)
    }

    /// The stored head as a decoded answer's: no `Content-Encoding`, the decoded length.
    private func decodedHead(of entry: CacheEntry, length: Int) -> ByteBuffer? {
        var head = connection.allocator.buffer(capacity: entry.head.readableBytes + 16)
        guard entry.head.withUnsafeReadableBytes({ stored in DecodedHead.rewrite(stored) { head.writeBytes($0) } }) else { return nil }
        if entry.status != 204 && entry.status != 304 { head.writeHeader("Content-Length", length) }
        return head
    }

    /// Writes `entry` as this client takes it (`form(of:)`) and the part of it a `Range`
    /// asks for, or a 502 for a gzip body that does not decompress within `limit` (a
    /// client without gzip cannot be given it), marked as the answer would have been.
    /// `stored`: the entry came from the store, which then loses it: a body corrupted
    /// there (Redis without `signingKey`) was a 502 for every plain client until it
    /// expired (the fidelity audit's); the next request fetches it again.
    func answer(_ entry: CacheEntry, identity: ByteBuffer? = nil, decodingUpTo limit: Int, stored: Bool = false,
                mark: @autoclosure () -> CacheMark, _ write: (StoredForm, RangeAnswer) -> Bool) {
        guard let form = form(of: entry, identity: identity, decodingUpTo: limit) else {
            engine.logger.error("gzip body does not decompress within the limit", metadata: ["request": "\(requestForLog)", "stored": "\(stored)"])
            if stored, let key = machine.context?.key { engine.store.drop(key, on: connection.eventLoop) }
            status = 502
            finish(close: writer.error(.upstreamUnavailable("gzip body does not decompress within the limit"), mark: mark(),
                                      now: engine.clock.now()))
            return
        }
        let range = range(of: form, status: entry.status)
        status = switch range {
        case .partial: 206
        case .unsatisfiable: 416
        case .whole: entry.status
        }
        finish(close: write(form, range))
    }

    /// DESIGN "HTTP fidelity", ranges: a GET's single byte range of a stored 200 answer,
    /// of the representation this client gets (the gzip bytes when it gets gzip), unless
    /// `If-Range` names another version.
    ///
    /// On a compressing route the gzip bytes under one `Last-Modified` are the proxy's
    /// own (level 1) when a plain client led the fill, and the upstream's when a gzip
    /// client did: a date does not hold them still, and a client that joined a range of
    /// one fill's to the rest of the next's had a body that did not inflate. (Their
    /// strong `ETag` was made weak for the same reason.)
    private func range(of form: StoredForm, status: Int) -> RangeAnswer {
        guard method == "GET", status == 200, head.headers.contains(name: "range") else { return .whole }
        if let condition = head.headers.first(name: "if-range") {
            let stored = HeaderList(CacheEntry.parseHead(form.head).lines)
            let datesHold = !(route?.policy.compress ?? true) || !stored.contains("content-encoding")
            if !Validators.ifRangeMatches(condition, stored: stored, datesHold: datesHold) { return .whole }
        }
        return RangeAnswer.evaluate(head.headers["range"], length: form.body.readableBytes)
    }
}
