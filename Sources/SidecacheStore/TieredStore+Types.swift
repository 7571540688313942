import NIOCore
import SidecacheCore

/// An answer that may need I/O: ready now (memory only: no promise, no allocation), or later.
public enum StoreStep<Value: Sendable> {
    case now(Value)
    case later(EventLoopFuture<Value>)

    /// Calls `body` with the value: at once when ready, else on `loop` when it is.
    public func whenReady(_ body: @escaping @Sendable (Value) -> Void) {
        switch self {
        case .now(let value): body(value)
        case .later(let future): future.whenSuccess(body)
        }
    }
}

/// A lookup's answer: now (L1, or memory only), or once Redis has answered (strict
/// mode's confirmation of an L1 entry, or an L2 read), calling the consumer back with no
/// future between: on a Redis-only hit a future cost an allocation and four generic
/// metadata lookups (`Result`, `EventLoopFuture`, `Optional`) for one hand-over.
public enum LookupStep {
    case now(Lookup)
    case confirming(Confirmation)
    case shared(SharedRead)

    /// Calls `body` with the lookup: at once when ready, else on the lookup's loop.
    public func whenReady(_ body: @escaping @Sendable (Lookup) -> Void) {
        switch self {
        case .now(let lookup): body(lookup)
        case .confirming(let confirmation): confirmation.start(body)
        case .shared(let read): read.start(body)
        }
    }

    /// A strict L1 hit's confirmation not asked yet: `start` asks Redis and calls its
    /// consumer on `loop`.
    public struct Confirmation {
        let store: TieredStore
        let shared: RedisStore
        let entry: CacheEntry
        let filledUnder: EntryCodec.Generations
        let key: CacheKey
        /// Asked only when the confirmation fails and L2 is read: a strict hit computed
        /// its key's purge scopes for nothing, 1 700 of its 64 000 instructions.
        let scopes: @Sendable () -> [UInt64]
        let now: Timestamp
        let loop: any EventLoop

        public func start(_ answer: @escaping @Sendable (Lookup) -> Void) {
            store.confirm(entry, filledUnder: filledUnder, shared: shared, key: key, scopes: scopes, now: now, on: loop, answer)
        }
    }

    /// An L2 read not started yet: `start` sends it and calls its consumer on `loop`.
    public struct SharedRead {
        let store: TieredStore
        let shared: RedisStore
        let key: CacheKey
        let scopes: [UInt64]
        let now: Timestamp
        let loop: any EventLoop

        public func start(_ answer: @escaping @Sendable (Lookup) -> Void) {
            store.readShared(shared, key, scopes: scopes, now: now, on: loop, answer)
        }
    }
}

/// What a lookup found.
public struct Lookup: Sendable {
    /// An entry that may be served (purge-checked), possibly stale; nil for none.
    public var entry: CacheEntry?
    /// The shared counters a fill for this key must be stored under; nil when there
    /// are none (memory only) or they are unknown (Redis trouble: the fill stays local).
    public var sharedGuard: EntryCodec.Generations?
    /// What went wrong with Redis on the way, if anything.
    public var trouble: StoreTrouble?
    /// The entry was soft-purged then: it is expired since (`EntryTiming.expired(at:)`).
    public var staleSince: Timestamp?

    public init(entry: CacheEntry? = nil, sharedGuard: EntryCodec.Generations? = nil, trouble: StoreTrouble? = nil,
                staleSince: Timestamp? = nil) {
        self.entry = entry
        self.sharedGuard = sharedGuard
        self.trouble = trouble
        self.staleSince = staleSince
    }
}

/// Redis trouble met during one store operation. The operation still answered (from
/// L1, or as a miss); the caller reports it once: a bypass reason, a log line, a metric.
public struct StoreTrouble: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Unreachable, timed out, breaker open, not ready (epoch unknown, purges journaled).
        case unavailable
        /// A stored value that does not decode or frames its body wrongly: a miss.
        case corruptEntry = "corrupt-entry"
        /// With `store.signingKey`: a stored value without this key's signature: a miss.
        case badSignature = "bad-signature"
    }

    public var kind: Kind
    public var detail: String

    public init(kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    init(_ error: any Error) {
        self.init(kind: .unavailable, detail: "\(error)")
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// Where a fill stands against purges: the local purge sequence when it began, and
/// the shared counters it must find unchanged to be stored in Redis.
public struct FillGuard: Sendable {
    public let fillSeq: UInt64
    public let shared: EntryCodec.Generations?
}

/// How a fill's commit ended. The entry is the answer to send either way.
public struct Commit: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// In L1 and (with Redis) in Redis.
        case stored
        /// In L1 only: Redis is configured but could not take it (unreachable, or
        /// purges still journaled), so other instances do not share it.
        case storedLocally
        /// A purge overtook the fill: not stored anywhere.
        case purged
        /// Larger than L1 can hold.
        case tooLarge
        /// Strict, and Redis could not take it: not stored anywhere.
        case notKept
    }

    public var entry: CacheEntry
    public var outcome: Outcome
    public var trouble: StoreTrouble?
}

/// The shared tier's state for `/readyz` and `/stats`.
public struct SharedTierStatus: Sendable, Equatable {
    public var connected: Bool
    public var breaker: String
    public var lastError: String?
    /// `usable`, `purges-pending` or `epoch-unknown`.
    public var l2: String
    /// Connected, epoch known, no journaled purge pending: L2 is in use.
    public var usable: Bool
    /// Redis's `maxmemory-policy`, when it could be read.
    public var memoryPolicy: String? = nil
    /// Redis Cluster only.
    public var cluster: ClusterStatus? = nil

    /// The masters in the slot map and their online replicas (which every purge waits
    /// for), the redirects (`MOVED`, `ASK`, `TRYAGAIN`) followed since start (resharding
    /// shows here, not as errors), and the slot map requests made since start (one every
    /// 5 s; about two a second while a master is away).
    public struct ClusterStatus: Sendable, Equatable {
        public var masters: Int
        public var replicas: Int
        public var redirects: Int
        public var mapRequests: Int
    }

    /// The policy evicts any key (`allkeys-*`), purge counters included.
    public var evictsPurgeState: Bool { RedisStore.evictsPurgeState(memoryPolicy) }
}

/// What Redis says about itself, for `/stats`.
public typealias SharedTierInfo = RedisStore.Info
