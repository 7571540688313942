import Synchronization

/// The last purges this instance applied, newest first, for the status page: when,
/// from where (`PurgeSource`), and what they named. Bounded to `capacity`.
public final class RecentPurges: Sendable {
    public struct Purge: Sendable {
        public let at: ContinuousClock.Instant
        public let source: PurgeSource
        public let targets: [String]
        /// The request or caller that purged (`PUT /api/users/7`, `admin`).
        public let reason: String

        public init(at: ContinuousClock.Instant = .now, source: PurgeSource, targets: [String], reason: String) {
            self.at = at
            self.source = source
            self.targets = targets
            self.reason = reason
        }
    }

    public let capacity: Int
    private let purges = Mutex<[Purge]>([])

    public init(capacity: Int = 20) { self.capacity = capacity }

    public func record(_ purge: Purge) {
        purges.withLock { p in
            p.insert(purge, at: 0)
            if p.count > capacity { p.removeLast(p.count - capacity) }
        }
    }

    public var all: [Purge] { purges.withLock { $0 } }
}
