import Logging
import NIOCore
import SidecacheCore
import Synchronization

/// What the store learns of its servers at every connect: each stripe's purge epoch
/// (tied to the server process, so a restart from a snapshot revives nothing) and the
/// eviction policy operators are warned about.
extension RedisStore {
    /// `maxmemory-policy` as read at the last connect; nil when `CONFIG` is not allowed.
    public var memoryPolicy: String? { evictionPolicy.withLock { $0 } }

    /// An `allkeys-*` policy evicts purge counters too: safe (a lost counter makes misses,
    /// never a revived entry) but wasteful, so operators hear of it.
    public static func evictsPurgeState(_ policy: String?) -> Bool { policy?.hasPrefix("allkeys-") == true }

    /// Every master's policy; the first that evicts purge state is the one reported.
    func readMemoryPolicy(on loop: any EventLoop) {
        let asked = redis.masters.map { $0.send([["CONFIG", "GET", "maxmemory-policy"]], on: loop) }
        EventLoopFuture.whenAllComplete(asked, on: loop).whenSuccess { [self] results in
            let policies = results.compactMap { result -> String? in
                guard case .success(let replies) = result, let pair = replies.first?.array, pair.count == 2 else { return nil }
                return pair[1].bytes.map { String(buffer: $0) }
            }
            guard let policy = policies.first(where: Self.evictsPurgeState) ?? policies.first else { return }
            let previous = evictionPolicy.withLock { p in defer { p = policy }; return p }
            if Self.evictsPurgeState(policy) && previous != policy {
                logger.warning("redis evicts any key under memory pressure: purge counters may be evicted (entries then miss), set maxmemory-policy to volatile-lru or noeviction",
                               metadata: ["maxmemory-policy": "\(policy)"])
            }
        }
    }

    /// On connect: learn (or create) each stripe's epoch, then replay the journal.
    func prepare(on loop: any EventLoop) {
        readMemoryPolicy(on: loop)
        let era = epochs.withLock { $0.era }
        var token = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in token.indices { token[i] = UInt8.random(in: 0...255, using: &rng) }
        let learnt = (0..<keys.stripes).map { stripe in
            let command: [RedisArgument] = ["EVAL", .text(Self.learnEpoch), "3", .text(keys.epoch(stripe)),
                                            .text(keys.epochServer(stripe)), .text(keys.tagSequence(stripe)),
                                            .bytes(ByteBuffer(bytes: token))]
            // Nil once learnt, else what went wrong.
            return redis.send([command], slot: keys.slots[stripe], on: loop).map { [self] replies -> String? in
                guard let current = replies[0].bytes, current.readableBytes == 16 else {
                    return "unexpected reply to the epoch script: \(replies[0])"   // e.g. an ACL that denies INFO
                }
                // A connection lost meanwhile: the server that answered may be gone, and
                // the prepare that follows its reconnect learns the epoch instead.
                epochs.withLock { e in
                    if e.era == era { e.values[stripe] = Array(current.readableBytesView) }
                }
                return nil
            }.recover { "\($0)" }
        }
        EventLoopFuture.whenAllSucceed(learnt, on: loop).whenSuccess { [self] problems in
            let failed = problems.compactMap { $0 }
            guard failed.isEmpty else {
                // One line and one retry timer however many stripes and connections failed.
                guard !prepareRetryArmed.exchange(true, ordering: .relaxed) else { return }
                if prepareTrouble.withLock({ last in defer { last = failed[0] }; return last != failed[0] }) {
                    logger.warning("redis epoch not learnt; retrying", metadata: ["stripes": "\(failed.count)", "error": "\(failed[0])"])
                }
                loop.scheduleTask(in: .milliseconds(200)) {
                    self.prepareRetryArmed.store(false, ordering: .relaxed)
                    self.prepare(on: loop)
                }
                return
            }
            prepareTrouble.withLock { $0 = nil }
            _ = replay(on: loop)
        }
    }

    /// The stripe's epoch, made new when the server restarted since it was set.
    ///
    /// Redis restarted from a snapshot (RDB or AOF) holds the epoch and the counters as
    /// they were some time ago: purges made since are gone, and the entries they purged
    /// are back under counters that match again. Only the process changed (its `run_id`;
    /// a cluster node keeps its node id), so the epoch of another process of the same
    /// server is replaced: every entry from before turns into a miss. An empty restart
    /// has no epoch at all and gets the new one too. A stripe now on another cluster node
    /// (resharding, a failover) got its keys from the slot's owner, not from a disk, and
    /// keeps its epoch; purges wait for replicas there (`WAIT`). Without a `run_id` to go
    /// by, or a record of one, the epoch is replaced: a cold cache, never a stale one.
    /// The stripe's tag purge count (KEYS[3]) is made beside it when missing: every
    /// lookup reads it, and in a cluster a read of several keys with one missing is
    /// refused while the slot migrates.
    static let learnEpoch = """
    local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
    local clustered, node = pcall(redis.call, 'CLUSTER', 'MYID')
    if not clustered then node = '' end
    local here = node .. ' ' .. run
    local was = redis.call('GET', KEYS[2])
    if was == here then
      redis.call('SET', KEYS[1], ARGV[1], 'NX')
    elseif was and run ~= '' and string.sub(was, 1, #node + 1) ~= node .. ' ' then
      redis.call('SET', KEYS[1], ARGV[1], 'NX')
      redis.call('SET', KEYS[2], here)
    else
      redis.call('SET', KEYS[1], ARGV[1])
      redis.call('SET', KEYS[2], here)
    end
    if redis.call('EXISTS', KEYS[3]) == 0 then
      local t = redis.call('TIME')
      redis.call('SET', KEYS[3], string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)))
    end
    return redis.call('GET', KEYS[1])
    """

    /// What this instance knows of the epochs, and how many times it forgot them.
    struct Epochs {
        var values: [[UInt8]?]
        /// Counts the losses: what a prepare learnt from before the latest is not kept.
        var era = 0

        mutating func forget() {
            era += 1
            values = Array(repeating: nil, count: values.count)
        }
    }
}
