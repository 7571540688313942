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
        let (era, marks) = epochs.withLock { ($0.era, $0.seen.map(\.mark)) }
        let token = Self.epochToken()
        let learnt = (0..<keys.stripes).map { stripe in
            let command: [RedisArgument] = ["EVAL", .text(Self.learnEpoch), "4", .text(keys.epoch(stripe)),
                                            .text(keys.epochServer(stripe)), .text(keys.tagSequence(stripe)),
                                            .text(keys.sequence(stripe)), .bytes(ByteBuffer(bytes: token)), .text(Self.freshValue())]
            // Nil once learnt, else what went wrong.
            return redis.send([command], slot: keys.slots[stripe], on: loop).map { [self] replies -> String? in
                guard let current = replies[0].bytes, current.readableBytes == 16 else {
                    return "unexpected reply to the epoch script: \(replies[0])"   // e.g. an ACL that denies INFO
                }
                // A connection lost meanwhile: the server that answered may be gone, and
                // the prepare that follows its reconnect learns the epoch instead.
                let back = epochs.withLock { e -> Bool in
                    guard e.era == era else { return false }
                    if e.seen[stripe].observe(Seen.Epoch(current), sequence: nil, since: marks[stripe]) { return true }
                    e.values[stripe] = Array(current.readableBytesView)
                    return false
                }
                if back { renewEpoch(stripe, replacing: current, learning: true, on: loop) }
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
    /// The stripe's tag purge count (KEYS[3]) and purge sequence (KEYS[4], at ARGV[2])
    /// are made beside it when missing: every lookup reads them, and in a cluster a read
    /// of several keys with one missing is refused while the slot migrates.
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
    redis.call('SET', KEYS[4], ARGV[2], 'NX')
    return redis.call('GET', KEYS[1])
    """

    /// Whether Redis's data for `stripe` went back in time, as `epoch` and `sequence`
    /// (an MGET's, sent at `mark`) tell; if so the epoch is replaced (`renewEpoch`) and
    /// nothing read with them may be served.
    func wentBack(_ stripe: Int, epoch: ByteBuffer, sequence: UInt64?, since mark: Seen.Mark, on loop: any EventLoop) -> Bool {
        guard let read = Seen.Epoch(epoch) else { return false }
        guard epochs.withLock({ $0.seen[stripe].observe(read, sequence: sequence, since: mark) }) else { return false }
        renewEpoch(stripe, replacing: epoch, on: loop)
        return true
    }

    /// What is known of `stripe` before a read of it is sent, or nil when it may not be
    /// read (its epoch unknown, or purges journaled).
    func readMark(_ stripe: Int) -> Seen.Mark? {
        guard journal.withLock({ $0.isSettled }) else { return nil }
        return epochs.withLock { $0.values[stripe] != nil ? $0.seen[stripe].mark : nil }
    }

    /// Data that went back keeps its epoch, and the counters of entries purged since are
    /// back at the values those entries were filled under: a new epoch makes every entry
    /// from before a miss, on every instance. Reads of the stripe stop until it is learnt.
    /// Once per loss of the epoch's value: the reads that saw it together replace it once
    /// (a prepare, which learns it, always does).
    ///
    /// Only `old` is replaced (`replaceEpoch`): the instances that tell at once set one
    /// new epoch between them, not one each, which their reads would then take in turns
    /// for data gone back again.
    func renewEpoch(_ stripe: Int, replacing old: ByteBuffer, learning: Bool = false, on loop: any EventLoop) {
        let first = epochs.withLock { e -> Bool in
            defer { e.values[stripe] = nil }
            return e.values[stripe] != nil
        }
        guard first || learning else { return }
        logger.warning("redis data went back in time (a restored snapshot, or another server with older data): epoch replaced, entries from before are misses",
                       metadata: ["stripe": "\(stripe)"])
        let command: [RedisArgument] = ["EVAL", .text(Self.replaceEpoch), "1", .text(keys.epoch(stripe)), .bytes(old),
                                        .bytes(ByteBuffer(bytes: Self.epochToken()))]
        redis.send([command], slot: keys.slots[stripe], on: loop).whenComplete { [self] _ in prepare(on: loop) }
    }

    /// Sets the epoch KEYS[1] to ARGV[2] if it is still ARGV[1].
    static let replaceEpoch = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) end
    return 1
    """

    static func epochToken() -> [UInt8] {
        var token = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in token.indices { token[i] = UInt8.random(in: 0...255, using: &rng) }
        return token
    }

    /// What this instance knows of the epochs, and how many times it forgot them.
    struct Epochs {
        var values: [[UInt8]?]
        /// Counts the losses: what a prepare learnt from before the latest is not kept.
        var era = 0
        /// Per stripe, what was read of Redis over time; kept when the values are
        /// forgotten, since a lost connection is when a server is swapped.
        var seen: [Seen]

        init(stripes: Int) {
            values = Array(repeating: nil, count: stripes)
            seen = Array(repeating: Seen(), count: stripes)
        }

        mutating func forget() {
            era += 1
            values = Array(repeating: nil, count: values.count)
        }
    }

    /// A stripe's epoch and the highest purge sequence read under it, and the epochs
    /// it had before. The epoch tells a restart (another server process); data going
    /// back within one process (a snapshot restored with RESTORE or `DEBUG RELOAD`), or
    /// the proxy pointed back at a server it had left, keep theirs. They show as an
    /// epoch this instance moved on from, or a sequence lower than one it knew (the
    /// sequence only counts up).
    ///
    /// Replies on different connections arrive in any order, so a read is judged
    /// against what was known when it was sent (its `Mark`), never against what a
    /// reply that overtook it said.
    struct Seen {
        struct Mark: Sendable {
            fileprivate let moves: Int
            fileprivate let highest: UInt64?
        }

        /// An epoch's 16 bytes as two words: compared on every read of Redis.
        struct Epoch: Equatable {
            let high: UInt64, low: UInt64

            init?(_ bytes: ByteBuffer) {
                guard bytes.readableBytes == 16, let high = bytes.getInteger(at: bytes.readerIndex, as: UInt64.self),
                      let low = bytes.getInteger(at: bytes.readerIndex + 8, as: UInt64.self) else { return nil }
                (self.high, self.low) = (high, low)
            }
        }

        private var epoch: Epoch?
        private var highest: UInt64?
        /// Counts the epochs taken on; `former` says at which count each was left.
        private var moves = 0
        private var former: [(epoch: Epoch, leftAt: Int)] = []
        static let formerKept = 8

        var mark: Mark { Mark(moves: moves, highest: highest) }
        /// The highest purge sequence read under the current epoch.
        var highestSequence: UInt64? { highest }

        /// Records what a read sent at `mark` found; true when it shows the data went back.
        mutating func observe(_ read: Epoch?, sequence: UInt64?, since mark: Mark) -> Bool {
            guard let read else { return false }
            if read == epoch {
                guard let sequence else { return false }
                if mark.moves == moves, let known = mark.highest, sequence < known { return true }
                highest = max(highest ?? 0, sequence)
                return false
            }
            if let left = former.first(where: { $0.epoch == read }) {
                // Left before the read was sent: the server holds it again. After: the
                // read was answered before that, and its reply comes late.
                return left.leftAt <= mark.moves
            }
            // An epoch not seen yet, read before the latest move: a late reply from before
            // it (another instance's new epoch, since replaced), not a move of its own.
            guard mark.moves == moves else { return false }
            moves += 1
            if let epoch {
                former.append((epoch, moves))
                if former.count > Self.formerKept { former.removeFirst() }
            }
            epoch = read
            highest = sequence
            return false
        }

        /// This instance's purge, made at `mark`, counted the sequence up to `sequence`.
        mutating func purged(to sequence: UInt64, since mark: Mark) {
            guard mark.moves == moves else { return }
            highest = max(highest ?? 0, sequence)
        }
    }
}
