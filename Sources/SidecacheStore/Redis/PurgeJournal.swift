/// Purges that could not reach Redis, kept until they can. Bounded: past `capacity`
/// scopes it collapses to "purge everything", which is always safe. While a replay is
/// in flight its purges are not applied yet, so reads stay off until it lands.
///
/// The store retries on a timer while anything is journaled (Redis may come back with
/// no traffic and no reconnect, e.g. after a pause): at most one retry is scheduled at
/// a time, and its delay grows with the replays that failed in a row.
struct PurgeJournal {
    /// Replays sent and not yet answered.
    var replaying = 0
    /// A retry is scheduled: further failures do not schedule another.
    private(set) var retryArmed = false
    /// Attempts that failed since a replay last landed: the retry's backoff step.
    private(set) var failures = 0

    private(set) var scopes: [UInt64] = []
    private var seen: Set<UInt64> = []
    private(set) var overflowed = false
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    var isEmpty: Bool { scopes.isEmpty && !overflowed }
    /// Nothing journaled and nothing being replayed: Redis holds every purge.
    var isSettled: Bool { isEmpty && replaying == 0 }

    mutating func add(_ ids: [UInt64]) {
        guard !overflowed else { return }
        for id in ids where seen.insert(id).inserted { scopes.append(id) }
        if scopes.count > capacity {
            overflowed = true
            scopes.removeAll()
            seen.removeAll()
        }
    }

    /// Hands out the first `limit` scopes journaled (or "everything", once overflowed)
    /// for a replay; the rest wait for the next.
    mutating func drain(limit: Int = .max) -> (scopes: [UInt64], all: Bool) {
        if overflowed {
            (scopes, seen, overflowed) = ([], [], false)
            return ([], true)
        }
        let taken = Array(scopes.prefix(limit))
        scopes.removeFirst(taken.count)
        for id in taken { seen.remove(id) }
        return (taken, false)
    }

    /// A purge or replay could not reach Redis. Returns the backoff step when a retry
    /// should be scheduled now (none is yet), else nil.
    mutating func armRetry() -> Int? {
        guard !isEmpty else { return nil }
        failures += 1
        guard !retryArmed else { return nil }
        retryArmed = true
        return failures
    }

    /// The scheduled retry is due: the next failure may schedule another.
    mutating func retryFired() { retryArmed = false }

    /// A replay landed: Redis answers, so the next trouble backs off from the start.
    mutating func replayed() {
        replaying -= 1
        failures = 0
    }

    /// A replay that failed: its purges go back in.
    mutating func putBack(_ drained: (scopes: [UInt64], all: Bool)) {
        if drained.all {
            overflowed = true
            scopes = []
            seen = []
        } else {
            add(drained.scopes)
        }
    }
}
