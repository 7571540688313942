import Glibc
import NIOCore
import SidecacheCore

/// Who asks a strict confirmation: the entry asked about, the loop its answer is given
/// on, and what is done with the answer (true: the entry is still filled under the
/// current counters; false: a purge moved them; a failure: Redis cannot say). Kept
/// inside the check (`RedisStore.StrictCheck`), so that a strict hit's confirmation is
/// one object, holding the entry once: not a closure per layer, each with its own copy.
protocol ConfirmationAsker: Sendable {
    var entry: CacheEntry { get }
    var loop: any EventLoop { get }
    func confirmed(_ outcome: Result<Bool, any Error>)
}

/// A closure as a `ConfirmationAsker`, for the callers that are closures.
struct ConfirmationClosure: ConfirmationAsker {
    let entry: CacheEntry
    let loop: any EventLoop
    let done: @Sendable (Result<Bool, any Error>) -> Void
    func confirmed(_ outcome: Result<Bool, any Error>) { done(outcome) }
}

extension RedisStore {
    /// Strict mode's check of an L1 entry: is it still filled under the current counters?
    /// Usually one shared read of the epoch and the purge sequence: both unchanged since
    /// the entry was last confirmed means no purge anywhere since (the epoch changes
    /// when Redis loses its data, so a sequence that restarted cannot match by chance).
    /// Otherwise the sequence and the entry's counters together, sequence first, so a
    /// purge landing in between is seen next time.
    ///
    /// The answer goes to `done` on `loop`.
    public func confirm(_ entry: CacheEntry, key: CacheKey, on loop: any EventLoop,
                        _ done: @escaping @Sendable (Result<Bool, any Error>) -> Void) {
        confirm(key: key, for: ConfirmationClosure(entry: entry, loop: loop, done: done))
    }

    /// `confirm` of `asker`'s entry, its answer given to `asker` on its loop: with no
    /// future on one server, and one object (`StrictCheck`) for the whole round trip.
    /// This is every strict L1 hit's round trip.
    func confirm(key: CacheKey, for asker: consuming some ConfirmationAsker) {
        guard let filledUnder = asker.entry.generations else { return asker.confirmed(.success(false)) }
        let stripe = keys.stripe(of: key)
        guard let mark = readMark(stripe) else { return asker.confirmed(.failure(RedisFailure.unavailable("not ready"))) }
        let known = asker.entry.confirmedSeq.load(ordering: .relaxed)
        guard known != CacheEntry.unconfirmed else {
            return fullConfirm(asker.entry, filledUnder, stripe, on: asker.loop).whenComplete { [asker] in asker.confirmed($0) }
        }
        // Shared by the callers of this loop pass, and sent at its end: after every one's
        // mark, so each may judge it by its own.
        let loop = asker.loop
        redis.probe(keys.probe(stripe), slot: keys.slots[stripe], on: loop,
                    for: StrictCheck(store: self, filledUnder: filledUnder, stripe: stripe, mark: mark, known: known, asker: asker))
    }

    /// One strict confirmation's probe: what was known when it was asked (the entry's
    /// counters, the stripe's mark, the purge sequence the entry was last confirmed at),
    /// by which its reply is judged, and who asked. Each layer's closure (the link's, the
    /// store's, the tiered store's) cost a strict hit an allocation of its own.
    final class StrictCheck<Asker: ConfirmationAsker>: RedisReplyTarget {
        let store: RedisStore
        let filledUnder: EntryCodec.Generations
        let stripe: Int
        let mark: Seen.Mark
        let known: UInt64
        let asker: Asker

        init(store: RedisStore, filledUnder: EntryCodec.Generations, stripe: Int, mark: Seen.Mark, known: UInt64,
             asker: consuming Asker) {
            self.store = store
            self.filledUnder = filledUnder
            self.stripe = stripe
            self.mark = mark
            self.known = known
            self.asker = asker
        }

        func redisAnswered(_ outcome: Result<[RedisValue], any Error>) {
            let replies: [RedisValue]
            switch outcome {
            case .success(let read): replies = read
            case .failure(let error): return asker.confirmed(.failure(error))
            }
            if let held = store.probed(replies, self) { return asker.confirmed(.success(held)) }
            store.fullConfirm(asker.entry, filledUnder, stripe, on: asker.loop).whenComplete { [asker] in asker.confirmed($0) }
        }
    }

    /// What a probe's reply says of `check`'s entry: true (the epoch and the sequence it
    /// was confirmed at are both unchanged), false (the data went back), or nil, when only
    /// its counters can say (`fullConfirm`).
    private func probed(_ replies: [RedisValue], _ check: StrictCheck<some ConfirmationAsker>) -> Bool? {
        guard let values = replies.first?.array, values.count == 2, let epoch = values[0].bytes else { return nil }
        let sequence = values[1].integer.map { UInt64(truncatingIfNeeded: $0) }
        // Data gone back to the sequence this entry was confirmed at matches it: the
        // instance knows better (`Seen`).
        if wentBack(check.stripe, epoch: epoch, sequence: sequence, since: check.mark, on: check.asker.loop) { return false }
        if sequence == check.known, Self.holds(epoch, check.filledUnder.epoch) { return true }
        return nil
    }

    /// `bytes` are `epoch`'s, compared with `memcmp`: walked as sequences (a
    /// `ByteBufferView`, or raw bytes, against the array) they cost a strict hit 330 instructions.
    static func holds(_ bytes: ByteBuffer, _ epoch: [UInt8]) -> Bool {
        guard bytes.readableBytes == epoch.count, !epoch.isEmpty else { return bytes.readableBytes == epoch.count }
        return bytes.withUnsafeReadableBytes { raw in
            epoch.withUnsafeBytes { memcmp(raw.baseAddress!, $0.baseAddress!, epoch.count) == 0 }
        }
    }

    private func fullConfirm(_ entry: CacheEntry, _ filledUnder: EntryCodec.Generations, _ stripe: Int,
                             on loop: any EventLoop) -> EventLoopFuture<Bool> {
        let scopes = filledUnder.values.map(\.scope)
        // No sequence yet (no purge since Redis started, or it was lost): one is created
        // at a fresh value, so the next checks are probes. Created before it is read and
        // read before the counters: a purge landing after the read changes it.
        let commands: [[RedisArgument]] = [["SET", .text(keys.sequence(stripe)), .text(Self.freshValue()), "NX"],
                                           ["GET", .text(keys.sequence(stripe))], mget(scopes, stripe)]
        guard let mark = readMark(stripe) else { return loop.makeFailedFuture(RedisFailure.unavailable("not ready")) }
        return redis.send(commands, slot: keys.slots[stripe], on: loop).flatMapThrowing { [self] replies in
            if let epoch = replies[2].array?.first?.bytes,
               wentBack(stripe, epoch: epoch, sequence: replies[1].integer.map { UInt64(truncatingIfNeeded: $0) }, since: mark, on: loop) {
                return false
            }
            guard let current = try generations(replies[2], scopes: scopes, stripe, on: loop), Self.complete(current),
                  current == filledUnder else {
                return false
            }
            if let sequence = replies[1].integer { entry.confirmedSeq.store(UInt64(truncatingIfNeeded: sequence), ordering: .relaxed) }
            return true
        }
    }
}
