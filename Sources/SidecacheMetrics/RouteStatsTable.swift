import Synchronization

/// Route name → `RouteStats`, read on every request without a lock.
///
/// The table only grows: a reload registers the names it adds *before* the new config
/// takes effect, and names a reload removes keep their (frozen) figures, so counters
/// never go backwards. It is an open-addressing array of write-once slots, so a lookup
/// is a hash, an atomic load per probe and a string comparison (the names share storage
/// with the config's, so that is usually a pointer check).
final class RouteStatsTable: Sendable {
    /// A slot written once, its reference kept as the bits of a retained pointer:
    /// `AtomicLazyReference.load()` looked up `Unmanaged`'s generic metadata on every
    /// call, about 560 instructions of every request (callgrind, BENCHMARKS.md).
    private final class Slot: Sendable {
        private let bits = Atomic<UInt>(0)

        var stats: RouteStats? {
            guard let pointer = UnsafeRawPointer(bitPattern: bits.load(ordering: .acquiring)) else { return nil }
            return Unmanaged<RouteStats>.fromOpaque(pointer).takeUnretainedValue()
        }

        /// Fills an empty slot (writers hold the table's lock, so this one is empty).
        func fill(_ stats: RouteStats) {
            let retained = Unmanaged.passRetained(stats)
            let (filled, _) = bits.compareExchange(expected: 0, desired: UInt(bitPattern: retained.toOpaque()), ordering: .releasing)
            precondition(filled, "a route stats slot filled twice")
        }

        deinit {
            if let pointer = UnsafeRawPointer(bitPattern: bits.load(ordering: .acquiring)) {
                Unmanaged<RouteStats>.fromOpaque(pointer).release()
            }
        }
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
        while let s = slots[i].stats {
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
                while slots[i].stats != nil { i = (i + 1) & mask }
                let stats = make(name)
                slots[i].fill(stats)
                ordered.append(stats)
            }
            return refused
        }
    }

    /// Every registered route's stats, in registration order (without `unrouted`).
    var all: [RouteStats] { ordered.withLock { $0 } }
}
