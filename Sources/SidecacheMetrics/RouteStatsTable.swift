import Synchronization

/// Route name → `RouteStats`, read on every request without a lock.
///
/// The table only grows: a reload registers the names it adds *before* the new config
/// takes effect, and names a reload removes keep their (frozen) figures, so counters
/// never go backwards. It is an open-addressing array of write-once slots, so a lookup
/// is a hash, an atomic load per probe and a string comparison (the names share storage
/// with the config's, so that is usually a pointer check).
final class RouteStatsTable: Sendable {
    private final class Slot: Sendable {
        let stats = AtomicLazyReference<RouteStats>()
    }

    private let slots: [Slot]
    private let mask: Int
    /// Requests that matched no route (label `route=""`), and names the table had no room for.
    let unrouted: RouteStats
    /// Registered stats in registration order, for reports. Writers hold this lock
    /// while claiming slots, so two reloads never race for one.
    private let ordered = Mutex<[RouteStats]>([])

    /// Room for at least `capacity` names: the room is half the slots (so probes stay
    /// short), and the slots are a power of two, 16 at least.
    init(capacity: Int, unrouted: RouteStats) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        slots = (0..<size).map { _ in Slot() }
        mask = size - 1
        self.unrouted = unrouted
    }

    /// The stats for `name`; nil or an unknown name gets `unrouted`.
    @inline(__always)
    func stats(for name: String?) -> RouteStats {
        guard let name else { return unrouted }
        var i = name.hashValue & mask
        while let s = slots[i].stats.load() {
            if s.name == name { return s }
            i = (i + 1) & mask
        }
        return unrouted
    }

    /// Adds stats for the names not registered yet; returns the names that did not fit.
    func register(_ names: [String], make: (String) -> RouteStats) -> [String] {
        ordered.withLock { ordered in
            var refused: [String] = []
            for name in names where stats(for: name) === unrouted {
                guard ordered.count < slots.count / 2 else {
                    refused.append(name)
                    continue
                }
                var i = name.hashValue & mask
                while slots[i].stats.load() != nil { i = (i + 1) & mask }
                let stats = make(name)
                _ = slots[i].stats.storeIfNil(stats)
                ordered.append(stats)
            }
            return refused
        }
    }

    /// Every registered route's stats, in registration order (without `unrouted`).
    var all: [RouteStats] { ordered.withLock { $0 } }
}
