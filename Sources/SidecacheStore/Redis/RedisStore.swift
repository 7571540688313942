import Logging
import NIOCore
import SidecacheCore
import Synchronization

/// The shared L2 in Redis: entries with a TTL, and purge state as per-scope counters
/// (plus a random epoch, so a flush or restart can never revive old entries).
///
/// An entry records the counters of its scopes when its fill started; it is served
/// only while they are all still equal. Losing any key but an entry (eviction, a
/// manual `DEL`, a failover that lost writes) never revives a purged entry: a counter
/// that is not there never equals a recorded value, and counters (and the purge
/// sequence) are created with fresh random values, never counted up again from zero,
/// so a re-created one cannot come back to an old value. Counters expire: each lives
/// at least as long as the entries filled under it (the fill extends it), so the
/// counters of paths nobody reads any more go with their entries. A lookup fetches the entry and the counters
/// in one pipelined round trip; storing is a compare-and-set in Lua, so a purge that
/// lands during a fill wins. Purges that cannot reach Redis are journaled and
/// replayed before L2 is read again. In a cluster all of this is kept per stripe
/// (`RedisKeys`): each operation runs on one slot, and a purge counts up every stripe.
public final class RedisStore: Sendable {
    let redis: RedisServers
    let keys: RedisKeys
    public let consistency: Consistency
    let outageGrace: Duration
    /// With `store.signingKey`: signs what this instance writes, refuses what it did not sign.
    let signer: EntrySigner?
    let journal = Mutex(PurgeJournal())
    /// Purges sent to Redis and not yet answered (or journaled): a shutdown waits for them.
    let purgesInFlight = Atomic<Int>(0)
    /// The fence's warning was logged for the refusals going on (`fence(after:)`).
    let fenceWarned = Atomic<Bool>(false)
    /// Lease releases waiting to be sent again (`releaseLease`), held to `maxReleasesPending`.
    let releasesPending = Atomic<Int>(0)
    /// Where the shutdown's replays of the journal run.
    let home: any EventLoop
    /// Per stripe: its epoch, once learnt at connect; forgotten when a connection is lost.
    let epochs: Mutex<Epochs>
    /// A failed prepare's retry is scheduled: later failures wait for it.
    let prepareRetryArmed = Atomic<Bool>(false)
    /// What the last failed prepare logged: the same trouble is not logged every retry.
    let prepareTrouble = Mutex<String?>(nil)
    /// Redis's `maxmemory-policy`, read at connect where `CONFIG GET` is allowed.
    let evictionPolicy = Mutex<String?>(nil)
    let logger: Logger
    /// With Sentinel: the subscription to `+switch-master`.
    private let failovers: RedisSubscription?
    /// Cross-instance coalescing: waits for other instances' fills.
    let fillNotices: FillNotices
    /// The last count of entries for /stats, and when it was made (`info`).
    let entryCount = Mutex<(entries: Int, at: NIODeadline)?>(nil)

    public init(options: SharedTierOptions, loops: [any EventLoop], logger: Logger) {
        let redis = RedisServers(endpoint: options.endpoint, tls: options.tls, loops: loops, timeout: options.timeout, logger: logger)
        self.redis = redis
        self.keys = RedisKeys(prefix: options.prefix, stripes: options.endpoint.cluster == nil ? 1 : RedisKeys.clusterStripes)
        self.epochs = Mutex(Epochs(stripes: keys.stripes))
        self.consistency = options.consistency
        self.outageGrace = options.outageGrace
        self.signer = options.signingKey.map(EntrySigner.init(secret:))
        self.home = loops[0]
        self.fillNotices = FillNotices(endpoint: options.endpoint, tls: options.tls, keys: keys, loop: loops[0], logger: logger)
        self.logger = logger
        if case .one(let link) = redis {
            self.failovers = Self.watchFailovers(options, link: link, loop: loops[0], logger: logger)
        } else {
            self.failovers = nil
        }
        redis.whenConnectionChanges { [self] change in
            switch change {
            case .lost:
                // The server may come back as another process holding older data (a
                // restart from a snapshot, a promoted replica): nothing is read until the
                // epochs are learnt again from what it says then.
                epochs.withLock { $0.forget() }
                fillNotices.wakeEveryone()
            case .breakerOpened:
                // A Redis that stopped answering (paused, swapping) carries no lease
                // holder's announcement either: the waits would last their whole bound
                // (`upstreamTimeout`, 30 s by default; the coalescing audit's).
                fillNotices.wakeEveryone()
            case .connected, .remapped:
                // A moved stripe's record names the node it came from until a prepare
                // rewrites it: learnt again at once, a later restart of its new node is
                // told apart from the move.
                prepare(on: loops[0])
            }
        }
    }

    public func start() {
        redis.start()
        failovers?.start()
        fillNotices.start()
    }

    public func shutdown() {
        fillNotices.stop()
        failovers?.stop()
        redis.shutdown()
    }

    /// Connection, breaker and last error (a cluster: all masters together).
    public var linkStatus: RedisLink.Status { redis.status }

    /// Redis Cluster: the masters in the map and the redirects followed; nil otherwise.
    public var clusterState: SharedTierStatus.ClusterStatus? {
        guard case .cluster(let cluster) = redis else { return nil }
        return .init(masters: cluster.masters.count, replicas: cluster.replicas, redirects: cluster.redirects.load(ordering: .relaxed),
                     mapRequests: cluster.mapRequests.load(ordering: .relaxed))
    }

    /// Whether the server holding `key`'s stripe is connected with its breaker closed, or
    /// open past its cool-down (the check is then the probe): worth waiting on (briefly).
    public func isUsable(for key: CacheKey) -> Bool { redis.isUsable(slot: keys.slots[keys.stripe(of: key)]) }

    /// Whether this instance uses L2 now, and if not why: `/readyz` reports it, since a
    /// connected Redis is not necessarily a usable one.
    public enum L2State: String, Sendable {
        case usable
        /// Purges are journaled or being replayed: nothing is read from Redis (and so
        /// nothing stored there) until they are in.
        case purgesPending = "purges-pending"
        /// No epoch yet (of some stripe): not connected so far, or Redis lost its data and
        /// a new one is being set.
        case epochUnknown = "epoch-unknown"
        /// Redis (in a cluster, one of its masters) failed enough calls in a row that its
        /// breaker skips it: lookups miss L2 and fills are not stored there until a call
        /// gets through after the cool-down. Its link can still be up (a stalled Redis).
        case breakerOpen = "breaker-open"
    }

    /// The first reason that applies, in the order of the cases: journaled purges keep L2
    /// off after the breaker has closed again. Reads gate on the first two only (per
    /// stripe, `isReadable(_:)`), not on the breaker: it lets a call through once its
    /// cool-down is over, and the call that closes it again is a read.
    public var l2State: L2State {
        if !journal.withLock({ $0.isSettled }) { return .purgesPending }
        if epochs.withLock({ $0.values.contains(nil) }) { return .epochUnknown }
        return redis.status.breaker == "open" ? .breakerOpen : .usable
    }

    /// Reads of `stripe` are allowed once its epoch is known and no journaled purge is pending.
    func isReadable(_ stripe: Int) -> Bool { readMark(stripe) != nil }

    /// The scope ids whose counters guard an entry: `all` first, then the entry's own.
    public static func guardScopes(_ scopeIDs: [UInt64]) -> [UInt64] {
        var ids: [UInt64] = []
        ids.reserveCapacity(1 + scopeIDs.count)
        ids.append(PurgeScope.all.id)
        ids.append(contentsOf: scopeIDs)
        return ids
    }

    /// The counters guarding `scopes` in `key`'s stripe now, created where missing (a
    /// refresh, or a fill's tags, store under them).
    public func currentGenerations(scopes: [UInt64], key: CacheKey, on loop: any EventLoop) -> EventLoopFuture<EntryCodec.Generations?> {
        let stripe = keys.stripe(of: key)
        guard isReadable(stripe) else { return loop.makeFailedFuture(RedisFailure.unavailable("not ready")) }
        return initCounters(scopes, stripe, on: loop)
    }

    /// A counter that is not there reads as this. No counter ever holds it: they start
    /// at a fresh random value (`freshValue`) and only count up from there.
    static let absent: UInt64 = 0

    /// Whether every counter is there (an entry may be filled under them, or compared).
    static func complete(_ generations: EntryCodec.Generations) -> Bool {
        !generations.values.contains { $0.value == absent }
    }

    /// A value no counter had before, for one created now: random in [2^40, 2^62], so
    /// counting up from it never meets another one within any realistic number of purges.
    static func freshValue() -> String { String(UInt64.random(in: (1 << 40)...(1 << 62))) }

    /// A counter created for a fill lives this long unless the fill's entry extends it;
    /// a fill that takes longer finds it gone and is not stored (a miss, never a revival).
    static let counterLifetime = Duration.seconds(600)

    /// The epoch and the counters of `scopes`, creating the missing ones with fresh values
    /// (one script: the values returned are the ones stored).
    func initCounters(_ scopes: [UInt64], _ stripe: Int, on loop: any EventLoop) -> EventLoopFuture<EntryCodec.Generations?> {
        let command: [RedisArgument] = ["EVAL", .text(Self.createMissing), .text(String(1 + scopes.count)), .text(keys.epoch(stripe))]
            + scopes.map { .text(keys.generation($0, stripe)) } + scopes.map { _ in .text(Self.freshValue()) }
            + [.text(String(Self.counterLifetime.milliseconds))]
        return redis.send([command, ["GET", .text(keys.tagSequence(stripe))]], slot: keys.slots[stripe], on: loop)
            .flatMapThrowing { [self] replies in
                var read = try generations(replies[0], scopes: scopes, stripe, on: loop)
                read?.tagSequence = Self.tagSequence(replies[1])
                return read
            }
    }

    /// A tag purge count as read: none yet is 0.
    static func tagSequence(_ reply: RedisValue?) -> UInt64 {
        reply?.integer.map { UInt64(bitPattern: $0) } ?? 0
    }

    static let createMissing = """
    local out = {redis.call('GET', KEYS[1])}
    for i = 2, #KEYS do
      local v = redis.call('GET', KEYS[i])
      if not v then v = ARGV[i - 1]; redis.call('SET', KEYS[i], v, 'PX', ARGV[#ARGV]) end
      out[i] = v
    end
    return out
    """

    /// MGET of `entry` (a lookup's, when given), the epoch, the counters of `scopes` and,
    /// for a lookup, the tag purge count: the array made once at its final size (a Redis
    /// hit builds one).
    func mget(_ scopes: [UInt64], _ stripe: Int, entry: String? = nil) -> [RedisArgument] {
        var arguments: [RedisArgument] = []
        arguments.reserveCapacity(5 + scopes.count)
        arguments.append("MGET")
        if let entry { arguments.append(.text(entry)) }
        arguments.append(.text(keys.epoch(stripe)))
        for scope in scopes { arguments.append(keys.generationArgument(scope, stripe)) }
        if entry != nil {
            arguments.append(.text(keys.tagSequence(stripe)))
            arguments.append(.text(keys.sequence(stripe)))
        }
        return arguments
    }

    func generations(_ reply: RedisValue, scopes: [UInt64], _ stripe: Int, on loop: any EventLoop) throws -> EntryCodec.Generations? {
        guard let values = reply.array else { throw RedisFailure.protocolError("unexpected MGET reply") }
        return try generations(values[...], scopes: scopes, stripe, on: loop)
    }

    /// The epoch and the counters of `scopes`, as `values` (an MGET's, from the epoch on) hold them.
    func generations(_ values: ArraySlice<RedisValue>, scopes: [UInt64], _ stripe: Int,
                             on loop: any EventLoop) throws -> EntryCodec.Generations? {
        guard values.count == scopes.count + 1 else { throw RedisFailure.protocolError("unexpected MGET reply") }
        guard let epochBytes = values.first?.bytes, epochBytes.readableBytes == 16 else {
            // The epoch is gone: Redis was flushed or restarted empty. Nothing stored
            // before counts, and nothing is stored until a new epoch is set.
            epochs.withLock { $0.values[stripe] = nil }
            prepare(on: loop)
            return nil
        }
        // A counter as its bits: one that something else wrote negative is just another
        // value (it matches no entry's), not a trap that takes the process down.
        var counters: [(scope: UInt64, value: UInt64)] = []
        counters.reserveCapacity(scopes.count)
        var next = values.startIndex + 1
        for scope in scopes {
            counters.append((scope, UInt64(bitPattern: values[next].integer ?? 0)))
            next += 1
        }
        return EntryCodec.Generations(epoch: epochBytes.getBytes(at: epochBytes.readerIndex, length: 16)!, values: counters)
    }

    // MARK: Writing

    /// Deletes `key`'s entry; no answer is awaited.
    func remove(_ key: CacheKey, on loop: any EventLoop) {
        _ = redis.send([["DEL", .text(keys.entry(key))]], slot: keys.slots[keys.stripe(of: key)], on: loop)
    }

    /// Stores `entry` if the counters still equal `generations` (the fill's) and none of
    /// `tags` was purged after the fill's counters were read; false when a purge got
    /// there first. The tags' counters were not read then (the tags come with the
    /// answer), so their purges are told by the stripe's tag purge count each left
    /// (`markPurged`) against the count read with the fill's counters
    /// (`generations.tagSequence`; unknown counts as 0, before every tag purge).
    public func store(_ key: CacheKey, status: Int, timing: EntryTiming, head: ByteBuffer, body: ByteBuffer,
                      generations: EntryCodec.Generations, tags: [UInt64] = [],
                      now: Timestamp, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard Self.complete(generations) else { return loop.makeSucceededFuture(false) }
        let ttl = max(1, (timing.keepUntil - now).milliseconds)
        var header = ByteBufferAllocator().buffer(capacity: 128)
        header.writeBytes(EntryCodec.header(status: status, timing: timing, generations: generations,
                                            headLength: head.readableBytes, bodyLength: body.readableBytes))
        let stripe = keys.stripe(of: key)
        let name = keys.entry(key)
        var value = [header, head, body]
        if let signer {
            let signature = header.withUnsafeReadableBytes { h in
                head.withUnsafeReadableBytes { hd in body.withUnsafeReadableBytes { b in signer.signature(name: name, value: [h, hd, b]) } }
            }
            value.append(ByteBuffer(bytes: signature))
        }
        let tagKeys: [RedisArgument] = tags.isEmpty ? []
            : tags.map { .text(keys.tagPurged($0, stripe)) } + [.text(keys.recentTagPurges(stripe)), .text(keys.tagSequence(stripe))]
        var command: [RedisArgument] = ["EVAL", .text(Self.compareAndSet), .text(String(2 + generations.values.count + tagKeys.count)),
                                        .text(name), .text(keys.epoch(stripe))]
        command += generations.values.map { .text(keys.generation($0.scope, stripe)) }
        command += tagKeys
        command += [.parts(value), .text(String(ttl)), .bytes(ByteBuffer(bytes: generations.epoch))]
        command += generations.values.map { .text(String($0.value)) }
        command += [.text(String(Self.counterLifetime.milliseconds))]
        command += [.text(String(generations.values.count)), .text(String(generations.tagSequence ?? 0))]
        return redis.send([command], slot: keys.slots[stripe], on: loop).map { $0.first?.integer == 1 }
    }

    /// Stores the entry if the epoch and every counter still hold the fill's values and
    /// no tag (the mark keys after the counters, then the stripe's `recentTagPurges` set and
    /// tag purge count) was purged past the fill's tag purge count (ARGV[#ARGV]), and
    /// makes each counter live at least as long as the entry. A tag's purge is told by
    /// its mark key or its score in the set; when the set is gone (lost) while the count
    /// moved, or the fill began longer ago than the set keeps (ARGV[#ARGV - 2]), any of
    /// them may have been: not stored. An unknown count (0) is before every tag purge.
    /// The lifetime goes to PEXPIRE as it came: Lua prints a number of 10^14 or more as
    /// `1e+14`, which Redis refuses.
    static let compareAndSet = """
    local counters = 2 + tonumber(ARGV[#ARGV - 1])
    if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
    for i = 3, counters do
      if (redis.call('GET', KEYS[i]) or '0') ~= ARGV[i + 1] then return 0 end
    end
    local read = tonumber(ARGV[#ARGV])
    if #KEYS > counters then
      local purges = KEYS[#KEYS - 1]
      if read > 0 then
        local now = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
        if now > read and (redis.call('EXISTS', purges) == 0 or now - read > tonumber(ARGV[#ARGV - 2])) then return 0 end
      end
      for i = counters + 1, #KEYS - 2 do
        local purged = redis.call('GET', KEYS[i])
        if purged and tonumber(purged) > read then return 0 end
        local scored = redis.call('ZSCORE', purges, KEYS[i])
        if scored and tonumber(scored) > read then return 0 end
      end
    end
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    local ttl = tonumber(ARGV[2])
    for i = 3, counters do
      if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
    end
    return 1
    """
}
