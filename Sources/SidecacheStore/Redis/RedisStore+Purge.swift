import Logging
import NIOCore
import SidecacheCore
import Synchronization

/// Purges in Redis: the counters of every stripe counted up, the journal that keeps
/// what could not reach Redis, and its replay.
extension RedisStore {
    /// Bumps the counters of `scopes` (in every stripe), so every instance stops serving
    /// what they cover. Never fails: what cannot reach Redis now is journaled and replayed
    /// first thing when it can. It is published too, for fast instances' L1 (in any mode:
    /// a fleet changing `store.consistency` runs both).
    public func purge(_ scopes: [PurgeScope], on loop: any EventLoop) -> EventLoopFuture<Void> {
        counted(hardPurge(scopes, on: loop))
    }

    private func hardPurge(_ scopes: [PurgeScope], on loop: any EventLoop) -> EventLoopFuture<Void> {
        let ids = scopes.map(\.id)
        let tags = Self.tagIDs(scopes)
        let pending = journal.withLock { j -> Bool in
            if j.isSettled { return false }
            j.add(ids)   // keep order behind what is already waiting
            return true
        }
        if pending { return replay(on: loop) }
        return send(purging: ids, tags: tags, soft: nil, waitForReplicas: true, on: loop).flatMapError { [self] error in
            // Journaled: replayed (counted up again, which is harmless) until Redis has it.
            journal.withLock { $0.add(ids) }
            logger.warning("purge journaled: redis unreachable", metadata: ["scopes": "\(ids.count)", "error": "\(error)"])
            retryReplay(on: loop)
            return fence(after: error, scopes: ids, on: loop)
        }
    }

    /// Redis answers but takes no writes for want of memory (`-OOM` at `maxmemory` under
    /// `noeviction`): the purge is journaled, yet the other instances, which confirm by
    /// reading, would serve what it covers until memory frees — as long as that takes.
    /// DEL and PUBLISH are taken even then: every stripe's epoch is dropped, so every
    /// entry from before is a miss, strict confirmations fail (L1 then answers only
    /// within `outageGrace`) and nothing is stored until a new epoch can be written; and
    /// fast instances are told the purge after the drop, so none copies the entry back.
    /// A cold cache, never a purged answer. Succeeds whatever Redis says.
    private func fence(after error: any Error, scopes: [UInt64], on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard Self.refusedForMemory(error) else { return loop.makeSucceededVoidFuture() }
        let dropped = (0..<keys.stripes).map { stripe in
            redis.send([["DEL", .text(keys.epoch(stripe))]], slot: keys.slots[stripe], on: loop).map { _ in }
        }
        return EventLoopFuture.whenAllComplete(dropped, on: loop).flatMap { [self] results -> EventLoopFuture<Void> in
            let failed = results.filter { if case .failure = $0 { true } else { false } }.count
            // Once per stretch of refusals: the journal's replays come back here every 2 s.
            if !fenceWarned.exchange(true, ordering: .relaxed) {
                logger.warning("redis refuses writes (out of memory): epochs dropped so no instance serves what the purge covers",
                               metadata: ["stripes": "\(keys.stripes - failed) of \(keys.stripes)"])
            }
            return redis.send([Self.publish(scopes, soft: nil, on: keys.channel)], slot: keys.slots[0], on: loop).map { _ in }
                .recover { _ in }
        }
    }

    /// A soft purge (`"mode": "stale"`) at `now`: the counters count up as in `purge`, and
    /// each step is marked soft (`SoftPurgeMark`), so every instance serves what they
    /// cover as stale since `now` until one refresh replaces it. When that cannot land
    /// now (Redis away, purges journaled, a cluster slot in migration refusing the
    /// two-key script) it becomes a hard purge: stale may always turn into gone, never
    /// the other way.
    public func softPurge(_ scopes: [PurgeScope], at now: Timestamp, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard journal.withLock({ $0.isSettled }) else { return purge(scopes, on: loop) }
        return counted(send(purging: scopes.map(\.id), tags: Self.tagIDs(scopes), soft: now, waitForReplicas: true, on: loop)
                        .flatMapError { [self] error in
            logger.warning("soft purge made hard: redis refused it", metadata: ["scopes": "\(scopes.count)", "error": "\(error)"])
            return hardPurge(scopes, on: loop)
        })
    }

    /// `purge` in flight until it lands in Redis or the journal.
    private func counted(_ purge: EventLoopFuture<Void>) -> EventLoopFuture<Void> {
        purgesInFlight.add(1, ordering: .relaxed)
        purge.whenComplete { [self] _ in purgesInFlight.subtract(1, ordering: .releasing) }
        return purge
    }

    /// Shutdown, before the links close: purges on their way to Redis, and those
    /// journaled while it was away, get until `grace` has passed to land (the journal
    /// is replayed as on a reconnect). Dropped, other instances would serve what they
    /// purged until its ttl; so what is still owed then is logged as an error, with
    /// what an operator needs to purge it by hand.
    public func settlePurges(within grace: Duration) async {
        var deadline = ContinuousClock.now + grace
        while purgesInFlight.load(ordering: .acquiring) > 0 || !journal.withLock({ $0.isSettled }) {
            guard ContinuousClock.now < deadline else {
                let owed = journal.withLock { (scopes: $0.scopes.count, all: $0.overflowed, replaying: $0.replaying) }
                // A replay sent and unanswered holds journaled purges too: without it the
                // line read "journaled 0" with one owed (the lifecycle audit's).
                logger.error("purges not in redis at shutdown: other instances may serve what they purged until its ttl", metadata: [
                    "journaled": "\(owed.all ? "all" : String(owed.scopes))",
                    "replaysUnanswered": "\(owed.replaying)",
                    "unanswered": "\(purgesInFlight.load(ordering: .relaxed))",
                    "remedy": "POST /purge on a running instance once redis answers",
                ])
                return
            }
            if journal.withLock({ !$0.isEmpty && $0.replaying == 0 }) { _ = replay(on: home) }
            do {
                try await Task.sleep(for: .milliseconds(100))
            } catch {
                deadline = .now   // cancelled: no more waiting, only the report
            }
        }
    }

    /// One batch per stripe (one slot each): the counters' script, the sequence after the
    /// counters (see confirm()). With replicas (Sentinel, a cluster's), the last batch to
    /// each server ends with a `WAIT` for all of them, so the replica a failover promotes
    /// cannot be missing the purge (replication is asynchronous).
    private func purgeBatches(_ ids: [UInt64], tags: [UInt64], tagCounts: [UInt64]?, soft: Timestamp?, waitForReplicas: Bool,
                              on loop: any EventLoop) -> [PurgeBatch] {
        var batches: [PurgeBatch] = (0..<keys.stripes).map { stripe in
            let counters = ids.map { keys.generation($0, stripe) }
            // Tags first: at which tag purge count each was purged, for fills under way that
            // learn them only from their answers (`store`). In a cluster the count was
            // taken first (`countTagPurge`) and each mark is one key.
            let marks = tags.map { keys.tagPurged($0, stripe) }
            var commands: [[RedisArgument]] = if let tagCounts {
                marks.map { ["EVAL", .text(Self.raiseMark), "2", .text($0), .text(keys.recentTagPurges(stripe)), .text(String(tagCounts[stripe])),
                             .text(String(Self.counterLifetime.milliseconds))] }
            } else {
                tags.isEmpty ? [] : [Self.markPurged(keys.tagSequence(stripe), keys.recentTagPurges(stripe), marks)]
            }
            if let soft {
                // One script per counter, with its mark (same slot); the sequence after them.
                commands += zip(ids, counters).map { id, counter in
                    ["EVAL", .text(SoftPurgeMark.softBump), "2", .text(counter), .text(keys.softMark(id, stripe)),
                     .text(String(soft.milliseconds))]
                }
                    + [["EVAL", .text(Self.bumpOne), "1", .text(keys.sequence(stripe)), .text(Self.freshValue())]]
            } else if keys.stripes == 1 {
                commands += [["EVAL", .text(Self.bump), .text(String(counters.count + 1))]
                    + (counters + [keys.sequence(stripe)]).map { .text($0) } + [.text(Self.freshValue())]]
            } else {
                // A cluster: one key per script, in the same order. A script over several
                // keys of a slot being migrated is refused (TRYAGAIN) until the migration
                // ends when some of them are not there — and counters often are not — but a
                // purge must land now; one key at a time it does, on whichever node has it.
                commands += counters.map { ["EVAL", .text(Self.bumpOne), "1", .text($0), ""] }
                    + [["EVAL", .text(Self.bumpOne), "1", .text(keys.sequence(stripe)), .text(Self.freshValue())]]
            }
            let sequenceReply = commands.count - 1   // the sequence is counted up last
            if keys.stripes == 1 {
                // After the counters, on the same connection: an instance that drops its L1
                // copy on the message and reads Redis finds them moved. Sent whatever this
                // instance's own mode: a fleet mid-way through a change of
                // `store.consistency` has fast instances that hear of purges only so.
                commands.append(Self.publish(ids, soft: soft, on: keys.channel))
            }
            return PurgeBatch(stripe: stripe, slot: keys.slots[stripe], commands: commands, sequenceReply: sequenceReply,
                              mark: epochs.withLock { $0.seen[stripe].mark })
        }
        guard waitForReplicas else { return batches }
        var lastToNode: [Int: Int] = [:]
        for (i, batch) in batches.enumerated() { lastToNode[redis.node(ofSlot: batch.slot)] = i }
        for i in lastToNode.values {
            let replicas = redis.replicas(ofSlot: batches[i].slot, on: loop)
            guard replicas > 0 else { continue }
            batches[i].replicas = replicas
            batches[i].commands.append(["WAIT", .text(String(replicas)), .text(String(max(1, redis.timeout.nanoseconds / 2_000_000)))])
        }
        return batches
    }

    private struct PurgeBatch {
        var stripe: Int
        var slot: Int
        var commands: [[RedisArgument]]
        /// The reply holding the purge sequence's new value, and what was known of it
        /// when the batch was made (`Epochs.Seen`).
        var sequenceReply: Int
        var mark: Seen.Mark
        /// Replicas the batch's final `WAIT` must hear from; 0 without one.
        var replicas = 0
    }

    /// The purge of `ids` in Redis, then, in fast mode, its announcement. In a cluster the
    /// message goes once every stripe's counters moved: sent beside them (with stripe
    /// 0's), it reached other instances while a stripe's batch was still held up (a
    /// redirect, a busy node), and they copied the purged entry back into L1 from the
    /// counters not yet moved, fresh, for good in fast mode.
    private func send(purging ids: [UInt64], tags: [UInt64], soft: Timestamp?, waitForReplicas: Bool,
                      on loop: any EventLoop) -> EventLoopFuture<Void> {
        let counted: EventLoopFuture<[UInt64]?> = keys.stripes == 1 || tags.isEmpty
            ? loop.makeSucceededFuture(nil) : countTagPurge(on: loop).map { $0 }
        let sent = counted.flatMap { [self] tagCounts in
            send(purgeBatches(ids, tags: tags, tagCounts: tagCounts, soft: soft, waitForReplicas: waitForReplicas, on: loop), on: loop)
        }
        guard keys.stripes > 1 else { return sent }
        return sent.flatMap { [self] in
            redis.send([Self.publish(ids, soft: soft, on: keys.channel)], slot: keys.slots[0], on: loop).map { _ in }
        }
    }

    /// A cluster's tag purge counts every stripe's tag purges up first, one key a script
    /// (a script over several keys of a slot in migration is refused while one is
    /// missing, and marks usually are), and marks the tags with the counts after.
    private func countTagPurge(on loop: any EventLoop) -> EventLoopFuture<[UInt64]> {
        let counts = (0..<keys.stripes).map { stripe in
            redis.send([["EVAL", .text(Self.countUp), "1", .text(keys.tagSequence(stripe))]],
                       slot: keys.slots[stripe], on: loop).flatMapThrowing { replies -> UInt64 in
                if let refused = replies.first?.errorMessage { throw RedisFailure.replyError(refused) }
                guard let n = replies.first?.integer else { throw RedisFailure.protocolError("unexpected reply to a tag purge count") }
                return UInt64(bitPattern: n)
            }
        }
        return Self.allSucceeded(counts, on: loop)
    }

    /// Every future's value, or a failure: a refusal for want of memory over any other,
    /// since only it calls for the fence (`andAllSucceed` reported whichever came first,
    /// and a timeout on one node hid another's `-OOM`).
    static func allSucceeded<T: Sendable>(_ futures: [EventLoopFuture<T>], on loop: any EventLoop) -> EventLoopFuture<[T]> {
        EventLoopFuture.whenAllComplete(futures, on: loop).flatMapThrowing { results in
            let failures = results.compactMap { if case .failure(let error) = $0 { error } else { nil } }
            if let failure = failures.first(where: refusedForMemory) ?? failures.first { throw failure }
            return results.compactMap { try? $0.get() }
        }
    }

    /// Redis 7 answers a script's refused write `OOM command not allowed…`; Redis 6 wraps
    /// it (`ERR Error running script … -OOM command not allowed…`).
    static func refusedForMemory(_ error: any Error) -> Bool {
        guard case RedisFailure.replyError(let text) = error else { return false }
        return text.contains("OOM command not allowed")
    }

    /// Pub/sub reaches every node of a cluster: one message for all stripes.
    private static func publish(_ ids: [UInt64], soft: Timestamp?, on channel: String) -> [RedisArgument] {
        ["PUBLISH", .text(channel), .text(PurgeMessage(ids: ids, softAt: soft).payload)]
    }

    /// Succeeds once every batch is in (and on the replicas it waits for).
    private func send(_ batches: [PurgeBatch], on loop: any EventLoop) -> EventLoopFuture<Void> {
        let sent = batches.map { batch in
            redis.send(batch.commands, slot: batch.slot, on: loop).flatMapThrowing { [self] replies in
                if let failed = replies.first(where: \.isError) { throw RedisFailure.replyError(failed.errorMessage ?? "\(failed)") }
                if let sequence = replies[batch.sequenceReply].integer, sequence != 0 {
                    epochs.withLock { $0.seen[batch.stripe].purged(to: UInt64(truncatingIfNeeded: sequence), since: batch.mark) }
                }
                if batch.replicas > 0, (replies.last?.integer ?? 0) < batch.replicas {
                    redis.relearnReplicas(ofSlot: batch.slot, on: loop)
                    throw RedisFailure.unavailable("purge not on every replica yet")
                }
            }
        }
        return Self.allSucceeded(sent, on: loop).map { _ in }
    }

    /// Scopes one replay carries: what fits in `store.timeout`. In a cluster each scope
    /// is two one-key scripts in each of 64 stripes, and 60 journaled purges in one
    /// replay (7 680 scripts) timed out every time: the instance never read Redis again,
    /// while the others served what those purges covered. The rest follow, one replay
    /// after another.
    static func replayChunk(stripes: Int) -> Int { max(1, 512 / stripes) }

    /// Applies journaled purges. Runs on every (re)connect, whenever a purge finds the
    /// journal non-empty, and on the retry timer while anything stays journaled.
    func replay(on loop: any EventLoop) -> EventLoopFuture<Void> {
        let drained = journal.withLock { j -> (scopes: [UInt64], all: Bool)? in
            if j.isEmpty { return nil }
            j.replaying += 1
            return j.drain(limit: Self.replayChunk(stripes: keys.stripes))
        }
        guard let drained else { return loop.makeSucceededVoidFuture() }
        let scopes = drained.all ? [PurgeScope.all.id] : drained.scopes
        // The journal keeps ids, not kinds: every one is marked as a tag could be. It waits
        // for the replicas as the purge did: one journaled because its `WAIT` came short
        // (a replica behind) and replayed onto the master alone left the journal, and a
        // failover to that replica then brought the purged entries back everywhere.
        return send(purging: scopes, tags: scopes, soft: nil, waitForReplicas: true, on: loop).flatMap { [self] _ in
            let more = journal.withLock { j in
                j.replayed()
                return !j.isEmpty
            }
            fenceWarned.store(false, ordering: .relaxed)
            logger.notice("journaled purges replayed", metadata: ["scopes": "\(drained.all ? "all" : String(scopes.count))"])
            return more ? replay(on: loop) : loop.makeSucceededVoidFuture()
        }.flatMapError { [self] error in
            journal.withLock { j in
                j.replaying -= 1
                j.putBack(drained)
            }
            retryReplay(on: loop)
            return fence(after: error, scopes: scopes, on: loop)
        }
    }

    /// DESIGN: journaled purges are replayed "as soon as Redis answers again — with or
    /// without traffic". A paused or overloaded Redis keeps the connection, so no
    /// reconnect announces its return: the store tries again on its own, backing off
    /// (`Backoff`) while Redis stays away, one timer at a time.
    private func retryReplay(on loop: any EventLoop) {
        guard !redis.isStopped, let attempt = journal.withLock({ $0.armRetry() }) else { return }
        loop.scheduleTask(in: Backoff.delay(attempt: attempt)) { [self] in
            journal.withLock { $0.retryFired() }
            _ = replay(on: loop)
        }
    }

    static func tagIDs(_ scopes: [PurgeScope]) -> [UInt64] {
        scopes.compactMap { if case .tag = $0 { $0.id } else { nil } }
    }

    /// Counts the stripe's tag purges (`sequence`) up and marks `marks` (tags'
    /// `tagPurged` names) with the new count, for as long as a fill may take
    /// (`counterLifetime`). One script over several keys of the stripe's slot (a
    /// cluster counts first and marks after, one mark a script: `countTagPurge`).
    ///
    /// Each mark is also scored in the stripe's `recentTagPurges` set, which has no TTL, so
    /// `volatile-*` eviction never takes it: a mark key evicted (or deleted) while a
    /// fill that began before its purge ran let that fill store its pre-purge answer.
    /// Scores older than `counterLifetime` are trimmed with every purge; the mark keys
    /// stay for instances of earlier versions, which read only them.
    static func markPurged(_ sequence: String, _ purges: String, _ marks: [String]) -> [RedisArgument] {
        ["EVAL", .text(markPurgedScript), .text(String(2 + marks.count)), .text(sequence), .text(purges)] + marks.map { .text($0) }
            + [.text(String(counterLifetime.milliseconds))]
    }

    /// The next count of KEYS[1], set: one more than it was, and never below Redis's
    /// clock in milliseconds, so a count that was lost (evicted, deleted, a failover
    /// that missed it) restarts above every count read before. Below 10^14: Lua's
    /// numbers carry it exactly.
    static let nextCount = """
    local t = redis.call('TIME')
    local n = math.max(tonumber(redis.call('GET', KEYS[1]) or '0') + 1, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    redis.call('SET', KEYS[1], string.format('%d', n))
    """

    static let markPurgedScript = nextCount + """

    local count = string.format('%d', n)
    for i = 3, #KEYS do
      redis.call('SET', KEYS[i], count, 'PX', ARGV[1])
      redis.call('ZADD', KEYS[2], count, KEYS[i])
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', n - tonumber(ARGV[1])))
    return n
    """

    /// Counts KEYS[1] up (`nextCount`); returns the count.
    static let countUp = nextCount + """

    return n
    """

    /// Sets the mark KEYS[1] to the count ARGV[1] unless it holds a later one: a slower
    /// tag purge's mark must not lower a newer one's. The same in the stripe's
    /// `recentTagPurges` set (KEYS[2]), trimmed as in `markPurgedScript`.
    static let raiseMark = """
    local v = redis.call('GET', KEYS[1])
    if not v or tonumber(v) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
    local scored = redis.call('ZSCORE', KEYS[2], KEYS[1])
    if not scored or tonumber(scored) < tonumber(ARGV[1]) then redis.call('ZADD', KEYS[2], ARGV[1], KEYS[1]) end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', tonumber(ARGV[1]) - tonumber(ARGV[2])))
    return 1
    """

    /// Purges: every counter that is there counts up (keeping its expiry); one that is
    /// not guards nothing and stays away (the next fill creates it fresh). Then the
    /// sequence (the last key) counts up, or starts at a fresh value when it is not there,
    /// so a lost sequence never restarts where it was. Returns the sequence counted up
    /// to (as text: Lua's numbers are doubles, and sequences start past 2^53), or 0 when
    /// it started afresh (as `bumpOne`).
    static let bump = """
    for i = 1, #KEYS - 1 do
      if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCR', KEYS[i]) end
    end
    if redis.call('EXISTS', KEYS[#KEYS]) == 1 then
      redis.call('INCR', KEYS[#KEYS])
      return redis.call('GET', KEYS[#KEYS])
    end
    redis.call('SET', KEYS[#KEYS], ARGV[1])
    return 0
    """

    /// `bump` for one key: counts it up if it is there; else sets it to ARGV[1] when one
    /// is given (the sequence), or leaves it away (a counter).
    static let bumpOne = """
    if redis.call('EXISTS', KEYS[1]) == 1 then
      redis.call('INCR', KEYS[1])
      return redis.call('GET', KEYS[1])
    end
    if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1]) end
    return 0
    """
}
