import Synchronization

/// The request headers each route's upstream was seen to `Vary` on, beyond the
/// configured `key.headers`. From the first such answer on, they are part of the
/// route's keys, so variants never answer for each other. That first answer is not
/// stored (its key did not include them); the next miss stores it properly.
/// Per instance; bounded per route.
final class VaryMemory: Sendable {
    private let learned = Mutex<(names: [String: [String]], refused: Set<String>)>(([:], []))
    /// Until anything is learned, keys need no lock at all.
    private let anyLearned = Atomic<Bool>(false)
    static let maxPerRoute = 8

    func headers(for route: String) -> [String] {
        guard anyLearned.load(ordering: .acquiring) else { return [] }
        return learned.withLock { $0.names[route] ?? [] }
    }

    enum Learning: Equatable {
        case learned
        /// Too many headers to key them all: the answer is not stored.
        case refused
        /// Refused as before on this route: every miss of such a URL comes here, and a
        /// warning each time flooded the log.
        case refusedAgain
    }

    /// Stops at the first name past the bound: the lock is the one every cache request
    /// takes, and an answer whose `Vary` listed 9 000 names held it (and every event
    /// loop) for seconds, on every miss of that URL, while a quadratic merge ran.
    @discardableResult
    func learn(_ names: [String], route: String) -> Learning {
        learned.withLock { all in
            var list = all.names[route] ?? []
            for n in names where !list.contains(n) {
                guard list.count < Self.maxPerRoute else { return all.refused.insert(route).inserted ? .refused : .refusedAgain }
                list.append(n)
            }
            // In one order whatever order they were learned in: keys hash them in this
            // order, and two instances sharing Redis that learned `X-Lang` and `X-Tier`
            // one before the other in turn never found each other's entries.
            all.names[route] = list.sorted()
            anyLearned.store(true, ordering: .releasing)
            return .learned
        }
    }
}
