import NIOCore
import SidecacheCore

/// Where an L2 read's outcome goes, on the read's loop, exactly once: kept inside the
/// read's one object (`RedisStore.EntryRead`).
protocol LookupAnswer: Sendable {
    func answered(_ result: Result<RedisStore.Lookup, any Error>)
}

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

    /// Reads `key`'s entry and its counters, and gives `answer` what was found, on `loop`.
    /// No future, and one object for the round trip (`EntryRead`, holding the answer): a
    /// future per step costs an allocation and NIO's generic metadata lookups, and a
    /// closure per layer (the link's, this store's, the tiered store's) cost a Redis-only
    /// hit an allocation each.
    func lookup(_ key: CacheKey, scopes: [UInt64], on loop: any EventLoop, for answer: consuming some LookupAnswer) {
        let stripe = keys.stripe(of: key)
        guard let mark = readMark(stripe) else { return answer.answered(.failure(RedisFailure.unavailable("not ready"))) }
        let name = keys.entry(key)
        // One MGET: the entry, then the epoch and counters, then the tag purge count and
        // the purge sequence (one stripe, one slot). Shared with the lookups of this loop
        // pass that send the very same MGET before it is flushed (a hot key's): Redis
        // reads it after every one of them arrived, so each may take its answer as its
        // own, and judges it by its own mark. Without it every hit of a hot key was a
        // read of its own: 13.5 µs of CPU against a memory hit's 8.4 (BENCHMARKS).
        redis.probe(mget(scopes, stripe, entry: name), slot: keys.slots[stripe], on: loop,
                    for: EntryRead(store: self, name: name, scopes: scopes, stripe: stripe, mark: mark, loop: loop, answer: answer))
    }

    /// One L2 read under way: what its reply is judged by (the entry's name, the scopes
    /// whose counters it reads, the stripe's mark when it was sent), and its answer.
    final class EntryRead<Answer: LookupAnswer>: RedisReplyTarget {
        let store: RedisStore
        let name: String
        let scopes: [UInt64]
        let stripe: Int
        let mark: Seen.Mark
        let loop: any EventLoop
        let answer: Answer

        init(store: RedisStore, name: String, scopes: [UInt64], stripe: Int, mark: Seen.Mark, loop: any EventLoop,
             answer: consuming Answer) {
            self.store = store
            self.name = name
            self.scopes = scopes
            self.stripe = stripe
            self.mark = mark
            self.loop = loop
            self.answer = answer
        }

        func redisAnswered(_ outcome: Result<[RedisValue], any Error>) {
            switch outcome {
            case .success(let replies): store.read(replies, name: name, scopes: scopes, stripe, sentAt: mark, into: answer, on: loop)
            case .failure(let error): answer.answered(.failure(error))
            }
        }
    }

    private func read(_ replies: [RedisValue], name: String, scopes: [UInt64], _ stripe: Int, sentAt mark: Seen.Mark,
                      into answer: some LookupAnswer, on loop: any EventLoop) {
        guard let values = replies.first?.array, values.count == scopes.count + 4 else {
            return answer.answered(.failure(RedisFailure.protocolError("unexpected MGET reply")))
        }
        if let epoch = values[1].bytes, wentBack(stripe, epoch: epoch, sequence: values.last?.integer.map { UInt64(truncatingIfNeeded: $0) }, since: mark, on: loop) {
            return answer.answered(.success(Lookup(found: nil, current: nil)))
        }
        var current: EntryCodec.Generations?
        do { current = try generations(values.dropFirst().dropLast(2), scopes: scopes, stripe, on: loop) } catch { return answer.answered(.failure(error)) }
        current?.tagSequence = Self.tagSequence(values[values.count - 2])
        let stored = values[0].bytes.map { servable($0, name: name) }
        var rejected: Rejection?
        if case .failure(let why)? = stored { rejected = why }
        if let current, !Self.complete(current) {
            // A counter is not there (a scope's first use, or lost): nothing stored can
            // be vouched for, and a fill records counters created now.
            let refused = rejected
            return initCounters(scopes, stripe, on: loop).whenComplete { [answer] in
                answer.answered($0.map { Lookup(found: nil, current: $0, rejected: refused) })
            }
        }
        guard case .success(let found)? = stored, let current else {
            return answer.answered(.success(Lookup(found: nil, current: current, rejected: rejected)))
        }
        // Tagged entries are guarded by their tags' counters too: read those as well.
        let extra = found.decoded.generations.values.map(\.scope).filter { !scopes.contains($0) }
        guard !extra.isEmpty else { return judge(found, against: current, current: current, stripe, into: answer, on: loop) }
        redis.send([mget(extra, stripe)], slot: keys.slots[stripe], on: loop).flatMapThrowing { [self] in
            try generations($0[0], scopes: extra, stripe, on: loop)
        }.whenComplete { [self, answer] result in
            guard case .success(let tagged?) = result, tagged.epoch == current.epoch, Self.complete(tagged) else {
                if case .failure(let error) = result { return answer.answered(.failure(error)) }
                return answer.answered(.success(Lookup(found: nil, current: current)))
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
