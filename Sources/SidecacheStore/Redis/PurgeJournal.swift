/// Purges that could not reach Redis, kept until they can. Bounded: past `capacity`
/// scopes it collapses to "purge everything", which is always safe. While a replay is
/// in flight its purges are not applied yet, so reads stay off until it lands.
struct PurgeJournal {
    /// Replays sent and not yet answered.
    var replaying = 0

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

    /// Hands out everything journaled for a replay and empties the journal.
    mutating func drain() -> (scopes: [UInt64], all: Bool) {
        defer {
            scopes = []
            seen = []
            overflowed = false
        }
        return (scopes, overflowed)
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
