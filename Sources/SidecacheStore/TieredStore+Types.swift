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

/// Who a lookup that waits on Redis tells its answer, on the lookup's loop: one object
/// (on the hit path, the client's connection) rather than a closure for the answer and
/// one for the scopes, an allocation each on every strict hit.
public protocol LookupWaiter: AnyObject {
    /// The purge scopes of the key's entries, asked only when L2 is read: a strict hit
    /// whose confirmation holds computes none (1 700 of its 64 000 instructions).
    var lookupScopes: [UInt64] { get }
    func lookupAnswered(_ found: Lookup)
}

/// A lookup's answer: now (L1, or memory only), or once Redis has answered (strict
/// mode's confirmation of an L1 entry, or an L2 read), calling the waiter back with no
/// future between: on a Redis-only hit a future cost an allocation and four generic
/// metadata lookups (`Result`, `EventLoopFuture`, `Optional`) for one hand-over.
public enum LookupStep: Sendable {
    case now(Lookup)
    case confirming(Confirmation)
    case shared(SharedRead)

    /// Tells `waiter` the lookup: at once when ready, else on the lookup's loop. Called
    /// on that loop.
    public consuming func start(_ waiter: any LookupWaiter) {
        switch self {
        case .now(let lookup): waiter.lookupAnswered(lookup)
        case .confirming(let confirmation): confirmation.start(waiter)
        case .shared(let read): read.start(waiter)
        }
    }

    /// `start` for a consumer that is closures, from any thread: `body` gets the lookup
    /// at once when ready, else on the lookup's loop; `scopes` is asked only when L2 is read.
    public func whenReady(scopes: @escaping @Sendable () -> [UInt64], _ body: @escaping @Sendable (Lookup) -> Void) {
        let loop: any EventLoop
        switch self {
        case .now(let lookup): return body(lookup)
        case .confirming(let confirmation): loop = confirmation.loop
        case .shared(let read): loop = read.loop
        }
        let waiter = LookupClosures(scopes: scopes, answered: body)
        if loop.inEventLoop { start(waiter) } else { loop.execute { start(waiter) } }
    }

    /// A strict L1 hit's confirmation not asked yet: `start` asks Redis and tells its
    /// waiter on `loop`.
    public struct Confirmation: Sendable {
        let store: TieredStore
        let shared: RedisStore
        let entry: CacheEntry
        let filledUnder: EntryCodec.Generations
        let key: CacheKey
        let now: Timestamp
        let loop: any EventLoop

        consuming func start(_ waiter: any LookupWaiter) {
            let bound = NIOLoopBound(waiter, eventLoop: loop)
            shared.confirm(key: key, for: TieredStore.StrictHit(asked: self, waiter: bound))
        }
    }

    /// An L2 read not started yet: `start` sends it and tells its waiter on `loop`.
    public struct SharedRead: Sendable {
        let store: TieredStore
        let shared: RedisStore
        let key: CacheKey
        let now: Timestamp
        let loop: any EventLoop

        func start(_ waiter: any LookupWaiter) {
            store.readShared(shared, key, scopes: waiter.lookupScopes, now: now, on: loop, for: NIOLoopBound(waiter, eventLoop: loop))
        }
    }
}

/// A lookup's waiter made of closures (`LookupStep.whenReady`).
final class LookupClosures: LookupWaiter, Sendable {
    let scopes: @Sendable () -> [UInt64]
    let answered: @Sendable (Lookup) -> Void

    init(scopes: @escaping @Sendable () -> [UInt64], answered: @escaping @Sendable (Lookup) -> Void) {
        self.scopes = scopes
        self.answered = answered
    }

    var lookupScopes: [UInt64] { scopes() }
    func lookupAnswered(_ found: Lookup) { answered(found) }
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
    /// `usable`, `purges-pending`, `epoch-unknown` or `breaker-open` (`RedisStore.L2State`).
    public var l2: String
    /// Connected, epoch known, no journaled purge pending, breaker not open: L2 is in use.
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
