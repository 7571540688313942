import SidecacheCore
import NIOCore

extension RedisStore {
    /// `by` hits (1; -1 takes a hit back) on a fixed-window counter shared by every
    /// instance: `PREFIX rl:<key>` is incremented and, when the increment created it, given
    /// the window as its expiry (INCRBY + PEXPIRE in one Lua call, so a key can never be
    /// left without a TTL; taking back never creates one). Returns the count in the
    /// current window and the window's remaining milliseconds.
    public func rateLimitHit(key: String, window: Duration, by: Int, on loop: any EventLoop) -> EventLoopFuture<(count: Int, remainingMs: Int)> {
        let counter = keys.prefix + "rl:" + key
        let command: [RedisArgument] = ["EVAL", .text(Self.fixedWindow), "1", .text(counter),
                                        .text(String(max(1, window.milliseconds))), .text(String(by))]
        return redis.send([command], slot: RedisSlot.of(counter), on: loop).flatMapThrowing { replies in
            guard let values = replies.first?.array, values.count == 2, let n = values[0].integer, let ttl = values[1].integer else {
                throw RedisFailure.protocolError("unexpected rate limit reply")
            }
            // Never past the window, whatever the reply says: the figure becomes a
            // Retry-After, and a near-Int.max one overflowed into a crash.
            return (Int(n), Int(min(max(0, ttl), max(1, window.milliseconds))))
        }
    }

    static let fixedWindow = """
    if tonumber(ARGV[2]) < 0 and redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
    local n = redis.call('INCRBY', KEYS[1], ARGV[2])
    if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
    return {n, redis.call('PTTL', KEYS[1])}
    """
}
