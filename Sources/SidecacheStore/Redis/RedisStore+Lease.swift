import NIOCore
import SidecacheCore

/// Cross-instance coalescing (DESIGN "Beyond purge rules"): before an instance fetches a
/// key that is in neither tier, it takes a short lease on it (`SET NX PX`). Only the
/// holder fetches; the others wait for its fill to be announced (`FillNotices`), then read
/// the entry from Redis. The lease outlives no fill: the holder deletes it and
/// announces when its fill ends, however it ends, and it expires by itself should the
/// holder die.
extension RedisStore {
    public enum Lease: Sendable {
        /// This instance fetches; release with `token` when the fill ends.
        case granted(token: String)
        /// Another instance is fetching: wait for its announcement.
        case heldElsewhere
        /// Redis cannot tell: fetch as if alone.
        case unavailable
    }

    /// The lease's value is a fresh token and, after `@`, the stripe's purge sequence its
    /// holder knew when it took it. A lease taken before a purge this instance has seen
    /// is no reason to wait: its holder's fetch began before the purge and will not be
    /// stored (DESIGN: a request after a purge never waits on a fetch from before it).
    /// A value without `@` (an older version's) is waited on as before.
    func takeLease(_ key: CacheKey, for ttl: Duration, on loop: any EventLoop) -> EventLoopFuture<Lease> {
        let stripe = keys.stripe(of: key)
        guard isReadable(stripe) else { return loop.makeSucceededFuture(.unavailable) }
        let known = epochs.withLock { $0.seen[stripe].highestSequence } ?? 0
        let token = Self.freshValue() + "@" + String(known)
        let command: [RedisArgument] = ["EVAL", .text(Self.setOrGet), "1", .text(keys.lease(key)), .text(token),
                                        .text(String(max(1, ttl.milliseconds)))]
        // `OK`: granted; a value: another instance holds it. Anything else is Redis refusing
        // the write (`-OOM`, `-MISCONF`, `-NOREPLICAS`, `-NOPERM`...): it cannot tell, and
        // taken as held elsewhere, every miss would wait its whole bound for a notice no
        // one sends.
        return redis.send([command], slot: keys.slots[stripe], on: loop).map { replies -> Lease in
            guard let reply = replies.first, case .bulk(let value?) = reply else { return .unavailable }
            let text = String(buffer: value)
            if text == "OK" { return .granted(token: token) }
            if let at = text.lastIndex(of: "@"), let holderKnew = UInt64(text[text.index(after: at)...]), holderKnew < known {
                return .unavailable
            }
            return .heldElsewhere
        }.recover { [self] error in
            // Sent, and no answer in time: a stalled Redis may still run the SET when it
            // wakes, and leave a lease no one holds (every instance's miss of the key would
            // wait its whole bound). It is released the way a holder's is, once Redis
            // answers. Not when it was never sent (breaker open, not connected): a miss a
            // request during an outage would start a release of its own.
            if let failure = error as? RedisFailure, failure == .timeout || failure == .connectionLost {
                releaseLease(key, token: token, on: loop)
            }
            return .unavailable
        }
    }

    /// `SET NX PX`, and the holder's value when it was already set (one round trip, atomic).
    static let setOrGet = """
    if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'OK' end
    return redis.call('GET', KEYS[1])
    """

    /// Whether another instance still holds `key`'s lease; false when Redis cannot tell:
    /// the holder's announcement would go where this check could not (its node killed, the
    /// breaker open), and the waiter would sleep its whole bound for it.
    func leaseHeld(_ key: CacheKey, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        redis.send([["EXISTS", .text(keys.lease(key))]], slot: keys.slots[keys.stripe(of: key)], on: loop)
            .map { $0.first?.integer != 0 }
            .recover { _ in false }
    }

    /// Ends the lease (if still this holder's) and announces that `key`'s fill is over,
    /// stored or not. Nothing is awaited: waiters are also bounded by their own timer.
    /// A release that does not reach Redis (the breaker open, a timeout, the link down)
    /// is sent again, backing off up to 2 s, for about a minute: dropped, it left the
    /// lease in Redis, and every instance's miss of the key waited its whole bound for a
    /// fill that was over. At most `maxReleasesPending` wait at once (past that, a lease
    /// is left to expire, as all were before): an outage must not make every miss a
    /// minute of retries.
    func releaseLease(_ key: CacheKey, token: String, on loop: any EventLoop) {
        sendRelease(key, token: token, on: loop, attempt: 0)
    }

    private func sendRelease(_ key: CacheKey, token: String, on loop: any EventLoop, attempt: Int) {
        guard !redis.isStopped else { return endRetries(after: attempt) }
        let command: [RedisArgument] = ["EVAL", .text(Self.releaseAndAnnounce), "1", .text(keys.lease(key)), .text(token),
                                        .text(keys.fillChannel), .text(key.description)]
        redis.send([command], slot: keys.slots[keys.stripe(of: key)], on: loop).whenComplete { [self] outcome in
            guard case .failure = outcome, attempt < Self.releaseAttempts else { return endRetries(after: attempt) }
            if attempt == 0 {
                guard releasesPending.wrappingAdd(1, ordering: .relaxed).newValue <= Self.maxReleasesPending else {
                    releasesPending.wrappingSubtract(1, ordering: .relaxed)
                    return
                }
            }
            loop.scheduleTask(in: Backoff.delay(attempt: attempt)) { [self] in
                sendRelease(key, token: token, on: loop, attempt: attempt + 1)
            }
        }
    }

    /// A retried release is over: its place among the pending ones is free.
    private func endRetries(after attempt: Int) {
        if attempt > 0 { releasesPending.wrappingSubtract(1, ordering: .relaxed) }
    }

    /// 50 ms doubling to 2 s: about a minute in all, past any lease's life but a
    /// route's with an `upstreamTimeout` over a minute.
    static let releaseAttempts = 36
    static let maxReleasesPending = 1024

    /// Announces only a lease it ended: a release that came late (a retry, or one for a
    /// SET that never ran) must not wake the waiters of another instance's fill, which
    /// would each fetch.
    static let releaseAndAnnounce = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
    redis.call('DEL', KEYS[1])
    return redis.call('PUBLISH', ARGV[2], ARGV[3])
    """
}
