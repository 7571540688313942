import NIOCore
import SidecacheCore

/// Reading an entry from L2: the entry, the epoch and its counters in one round trip,
/// refused when it is not this instance's to serve (unsigned, badly framed, purged).
extension RedisStore {
    public struct Found: Sendable {
        public var decoded: EntryCodec.Decoded
        public var bytes: ByteBuffer

        public var head: ByteBuffer { bytes.getSlice(at: bytes.readerIndex + decoded.head.lowerBound, length: decoded.head.count)! }
        public var body: ByteBuffer { bytes.getSlice(at: bytes.readerIndex + decoded.body.lowerBound, length: decoded.body.count)! }
    }

    public struct Lookup: Sendable {
        /// The entry, if stored, decodable and filled under the current counters.
        public var found: Found?
        /// The counters now, for a fill to record; nil when they are unknown.
        public var current: EntryCodec.Generations?
        /// Why a stored value was not served, if one was there and refused.
        public var rejected: Rejection?
        /// Only soft purges moved the counters since its fill: it is stale since then.
        public var staleSince: Timestamp? = nil
    }

    /// Why a value stored under an entry's key is not served (it is a miss).
    public enum Rejection: Error, Sendable {
        /// It does not decode (foreign or corrupt) or its framing disagrees with its body.
        case undecodable
        /// `store.signingKey` is set and the value does not carry this key's signature.
        case badSignature
    }

    /// What a lookup answers, on `loop`, exactly once.
    public typealias LookupCompletion = @Sendable (Result<Lookup, any Error>) -> Void

    /// Reads `key`'s entry and its counters, and calls `answer` on `loop` with what was
    /// found. A callback, not a future: the caller (`TieredStore`) completes its own
    /// promise from it, and a future per step on the hit path costs an allocation and
    /// NIO's generic metadata lookups each.
    public func lookup(_ key: CacheKey, scopes: [UInt64], on loop: any EventLoop, _ answer: @escaping LookupCompletion) {
        let stripe = keys.stripe(of: key)
        guard let mark = readMark(stripe) else { return answer(.failure(RedisFailure.unavailable("not ready"))) }
        let name = keys.entry(key)
        // One MGET: the entry, then the epoch and counters, then the tag purge count and
        // the purge sequence (one stripe, one slot). Shared with the lookups of this loop
        // pass that send the very same MGET before it is flushed (a hot key's): Redis
        // reads it after every one of them arrived, so each may take its answer as its
        // own, and judges it by its own mark. Without it every hit of a hot key was a
        // read of its own: 13.5 µs of CPU against a memory hit's 8.4 (BENCHMARKS).
        redis.probe(mget(scopes, stripe, entry: name), slot: keys.slots[stripe], on: loop, for: RedisReplyClosure { [self] result in
            switch result {
            case .success(let replies): read(replies, name: name, scopes: scopes, stripe, sentAt: mark, into: answer, on: loop)
            case .failure(let error): answer(.failure(error))
            }
        })
    }

    private func read(_ replies: [RedisValue], name: String, scopes: [UInt64], _ stripe: Int, sentAt mark: Seen.Mark,
                      into answer: @escaping LookupCompletion, on loop: any EventLoop) {
        guard let values = replies.first?.array, values.count == scopes.count + 4 else {
            return answer(.failure(RedisFailure.protocolError("unexpected MGET reply")))
        }
        if let epoch = values[1].bytes, wentBack(stripe, epoch: epoch, sequence: values.last?.integer.map { UInt64(truncatingIfNeeded: $0) }, since: mark, on: loop) {
            return answer(.success(Lookup(found: nil, current: nil)))
        }
        var current: EntryCodec.Generations?
        do { current = try generations(values.dropFirst().dropLast(2), scopes: scopes, stripe, on: loop) } catch { return answer(.failure(error)) }
        current?.tagSequence = Self.tagSequence(values[values.count - 2])
        let stored = values[0].bytes.map { servable($0, name: name) }
        var rejected: Rejection?
        if case .failure(let why)? = stored { rejected = why }
        if let current, !Self.complete(current) {
            // A counter is not there (a scope's first use, or lost): nothing stored can
            // be vouched for, and a fill records counters created now.
            let refused = rejected
            return initCounters(scopes, stripe, on: loop).whenComplete { answer($0.map { Lookup(found: nil, current: $0, rejected: refused) }) }
        }
        guard case .success(let found)? = stored, let current else {
            return answer(.success(Lookup(found: nil, current: current, rejected: rejected)))
        }
        // Tagged entries are guarded by their tags' counters too: read those as well.
        let extra = found.decoded.generations.values.map(\.scope).filter { !scopes.contains($0) }
        guard !extra.isEmpty else { return judge(found, against: current, current: current, stripe, into: answer, on: loop) }
        redis.send([mget(extra, stripe)], slot: keys.slots[stripe], on: loop).flatMapThrowing { [self] in
            try generations($0[0], scopes: extra, stripe, on: loop)
        }.whenComplete { [self] result in
            guard case .success(let tagged?) = result, tagged.epoch == current.epoch, Self.complete(tagged) else {
                if case .failure(let error) = result { return answer(.failure(error)) }
                return answer(.success(Lookup(found: nil, current: current)))
            }
            let all = EntryCodec.Generations(epoch: current.epoch, values: current.values + tagged.values)
            judge(found, against: all, current: current, stripe, into: answer, on: loop)
        }
    }

    /// The entry in a value stored under `name`, if it carries this instance's
    /// signature (with `store.signingKey`), decodes, and frames its body exactly.
    func servable(_ value: ByteBuffer, name: String) -> Result<Found, Rejection> {
        var bytes = value
        if let signer {
            guard bytes.withUnsafeReadableBytes({ signer.verify(name: name, stored: $0) }) else { return .failure(.badSignature) }
            bytes = bytes.getSlice(at: bytes.readerIndex, length: bytes.readableBytes - EntrySigner.signatureLength)!
        }
        guard let decoded = Self.decodeServable(bytes) else { return .failure(.undecodable) }
        return .success(Found(decoded: decoded, bytes: bytes))
    }

    /// The entry in a stored value, if it decodes and its head frames its body exactly
    /// (`StoredFraming`): anyone who can write to Redis could otherwise make a hit send
    /// a `Content-Length` that is not the body's, and desynchronise the client.
    static func decodeServable(_ bytes: ByteBuffer) -> EntryCodec.Decoded? {
        bytes.withUnsafeReadableBytes { raw in
            guard let decoded = EntryCodec.decode(raw) else { return nil }
            let head = UnsafeRawBufferPointer(rebasing: raw[decoded.head])
            return StoredFraming.problem(head: head, status: decoded.status, bodyLength: decoded.body.count) == nil ? decoded : nil
        }
    }
}
