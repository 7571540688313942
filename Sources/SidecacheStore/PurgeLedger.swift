import SidecacheCore
import Synchronization

/// Purges as numbered events, so a purge costs the same however many entries it hits.
///
/// Each purge takes the next sequence number and records it against the scopes it
/// names. An entry remembers the sequence number its fill started under; it is valid
/// while none of its scopes was purged after that. A fill that started before a purge
/// is refused at store time for the same reason.
public final class PurgeLedger: Sendable {
    private struct State {
        var lastPurge: [UInt64: UInt64] = [:]
        /// Soft purges (`"mode": "stale"`): the sequence number and the time of the last one per scope.
        var lastSoftPurge: [UInt64: (seq: UInt64, at: Timestamp)] = [:]
        /// Entries filled before this sequence number are all invalid (purge-all, or the table overflowed).
        var floor: UInt64 = 0
    }

    private let sequence = Atomic<UInt64>(1)
    private let state = Mutex(State())
    let maxScopes: Int
    private let onOverflow: @Sendable (Int) -> Void

    /// `maxScopes` bounds memory: past it the table is dropped and every older entry
    /// counts as purged, which is always safe.
    /// `onOverflow` is told (with `maxScopes`) each time that happens: the cache empties
    /// for everyone at once, and clients whose mutations name ever new scopes (a tag per
    /// query value) can make it happen; an operator must be able to see it.
    public init(maxScopes: Int = 1 << 20, onOverflow: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.maxScopes = maxScopes
        self.onOverflow = onOverflow
    }

    /// The number a fill starting now records.
    public var current: UInt64 { sequence.load(ordering: .acquiring) }

    /// Records a purge of `scopes`; when this returns, no lookup accepts an entry they cover.
    public func purge(_ scopes: [PurgeScope]) {
        purge(ids: scopes.map(\.id))
    }

    /// The same by scope id: purges published by other instances arrive this way.
    public func purge(ids: [UInt64]) {
        guard !ids.isEmpty else { return }
        let all = PurgeScope.all.id
        let overflowed = state.withLock { s in
            let n = sequence.load(ordering: .relaxed) + 1
            for id in ids {
                if id == all { s.floor = n } else { s.lastPurge[id] = n }
            }
            let overflowed = s.lastPurge.count > maxScopes
            if overflowed {
                s.lastPurge.removeAll(keepingCapacity: false)
                s.floor = n
            }
            sequence.store(n, ordering: .releasing)
            return overflowed
        }
        if overflowed { onOverflow(maxScopes) }
    }

    /// Records a soft purge of `scopes` at `now`: the entries they cover become stale
    /// (see `check`), and fills that started before it do not store their answers.
    public func softPurge(_ scopes: [PurgeScope], at now: Timestamp) {
        softPurge(ids: scopes.map(\.id), at: now)
    }

    /// The same by scope id: soft purges published by other instances arrive this way.
    public func softPurge(ids: [UInt64], at now: Timestamp) {
        guard !ids.isEmpty else { return }
        let overflowed = state.withLock { s in
            let n = sequence.load(ordering: .relaxed) + 1
            for id in ids { s.lastSoftPurge[id] = (n, now) }
            let overflowed = s.lastSoftPurge.count > maxScopes
            if overflowed {
                // Bounded like hard purges: past it, every older entry counts as purged.
                s.lastSoftPurge.removeAll(keepingCapacity: false)
                s.lastPurge.removeAll(keepingCapacity: false)
                s.floor = n
            }
            sequence.store(n, ordering: .releasing)
            return overflowed
        }
        if overflowed { onOverflow(maxScopes) }
    }

    public enum Check: Sendable, Equatable {
        case valid
        /// Soft-purged since its fill: expired since then (`EntryTiming.expired(at:)`).
        case stale(since: Timestamp)
        case purged
    }

    /// Where `entry` stands against the purges since its fill. One atomic load when
    /// nothing was purged since the entry was last found valid.
    public func check(_ entry: CacheEntry) -> Check {
        let now = sequence.load(ordering: .acquiring)
        if entry.checkedSeq.load(ordering: .relaxed) == now { return .valid }
        return state.withLock { s in
            guard Self.survives(fillSeq: entry.fillSeq, scopeIDs: entry.scopeIDs, s) else { return .purged }
            if let since = Self.softPurged(fillSeq: entry.fillSeq, scopeIDs: entry.scopeIDs, s) {
                return .stale(since: since)   // not remembered as checked: stale until refreshed
            }
            entry.checkedSeq.store(sequence.load(ordering: .relaxed), ordering: .relaxed)
            return .valid
        }
    }

    /// True when no purge since `entry`'s fill removed it (soft-purged entries are valid, stale).
    public func isValid(_ entry: CacheEntry) -> Bool { check(entry) != .purged }

    /// True when a fill that started at `fillSeq` may still store its answer: no purge,
    /// soft or not, since (an answer fetched before a soft purge is what it made stale).
    public func mayStore(fillSeq: UInt64, scopeIDs: [UInt64]) -> Bool {
        if sequence.load(ordering: .acquiring) == fillSeq { return true }
        return state.withLock { Self.survives(fillSeq: fillSeq, scopeIDs: scopeIDs, $0) && Self.softPurged(fillSeq: fillSeq, scopeIDs: scopeIDs, $0) == nil }
    }

    private static func survives(fillSeq: UInt64, scopeIDs: [UInt64], _ s: State) -> Bool {
        if fillSeq < s.floor { return false }
        for id in scopeIDs {
            if let purged = s.lastPurge[id], purged > fillSeq { return false }
        }
        return true
    }

    /// The latest soft purge since `fillSeq` of the scopes (or of `all`), if any.
    private static func softPurged(fillSeq: UInt64, scopeIDs: [UInt64], _ s: State) -> Timestamp? {
        guard !s.lastSoftPurge.isEmpty else { return nil }
        var latest: Timestamp?
        for id in scopeIDs + [PurgeScope.all.id] {
            if let soft = s.lastSoftPurge[id], soft.seq > fillSeq { latest = max(latest ?? soft.at, soft.at) }
        }
        return latest
    }
}
