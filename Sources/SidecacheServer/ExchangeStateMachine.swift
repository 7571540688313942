import NIOCore
import NIOHTTP1
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// One request's life as a value: events in (lookup answered, fill landed, wait timed
/// out, upstream head/body/end/failure, purge done, commit landed, client gone), actions
/// out. The decisions are the core's (ServeDecision, StoragePolicy, Validators); this
/// type only keeps where the request stands, so an event that arrives in a state that
/// does not expect it (a fill landing after the wait timed out, a transfer's end while a
/// commit is pending, anything after the client left) does nothing. `Exchange` carries
/// out the actions and is the only part that touches the store, the upstream or the
/// connection.
struct ExchangeStateMachine {
    /// What an upstream fetch is for.
    enum Fetch {
        /// A miss on a cache route: buffer a storable answer, stream anything else.
        case fill(requestTime: Timestamp)
        /// Anything else: purge on success, then stream the answer under `marker`.
        case forward(marker: String)

        /// How the proxy's own error marks a failure of this fetch.
        var failureMark: CacheMark {
            switch self {
            case .fill: .failedFill
            case .forward(let marker): .forwarded(marker)
            }
        }
    }

    enum State {
        case idle
        /// The store is looking the key up.
        case lookingUp
        /// Waiting on another request's fill of the key, as waiter `waiter`.
        case waitingOnFill(waiter: UInt64)
        /// The flight registry is deciding whether this request leads or waits.
        case enteringFlight
        /// With Redis: asking whether another instance is fetching the key.
        case leasing
        /// Another instance is fetching the key: waiting for its fill to be announced.
        case waitingOnPeer
        /// The upstream request is under way.
        case fetching(Fetch, Answer)
        /// The answer comes from the store once its commit lands.
        case committing
        /// Answered, or the client went away.
        case finished
    }

    /// Where the upstream's answer stands.
    enum Answer {
        case awaitingHead
        /// Collecting a storable body (at most the route's `maxBodySize`), and its share
        /// of `limits.bodyMemory`.
        case buffering(UpstreamResponseHead, EntryTiming, ByteBuffer, BodyMemory.Hold)
        /// A mutation's answer waits for its purge; chunks are held (unacknowledged, so
        /// the transfer pauses past its high-water mark).
        case holding(UpstreamResponseHead, held: [ByteBuffer], ended: Bool)
        /// Head sent; body bytes go out as they come.
        case streaming(BodyFraming)
    }

    /// The request facts the decisions read.
    let request: HTTPHeaders
    let isHEAD: Bool
    let version: HTTPVersion
    /// The cache route and key, once the request is known to use the cache.
    private(set) var context: CacheContext?
    let allocator: ByteBufferAllocator

    // Written only by the machine's own events (this file and +Answer).
    var state = State.idle
    /// A stored answer being revalidated, and the one that may answer if the fetch fails.
    var revalidating: CacheEntry?
    var staleFallback: StaleFallback?
    /// The shared counters the lookup read, for the fill.
    private var generations: EntryCodec.Generations?
    /// Already waited on someone's fill once: never queue again, fetch instead.
    private var joined = false
    /// The lookup under way follows a fill this request waited on, stored meanwhile.
    private var landed = false
    /// Fills this request waited on that ended storing nothing for a reason of their own
    /// (the leader's client left, a purge overtook it): it looked up and queued again.
    private var rejoins = 0
    static let maxRejoins = 3
    /// The failure it queued again after (`FlightResult.failed`), and by when its first
    /// wait's bound ends: waiting again, it answers with that failure then (DESIGN:
    /// waiters wait at most `upstreamTimeout`; the review's had theirs 8.7 s after they
    /// came, past an 8 s bound).
    private var queuedAfterFailure: (error: ProxyError, until: Timestamp)?
    private var firstWait: Timestamp?

    /// A stale entry that may answer should the fetch fail, with the timing its lookup
    /// judged it by (a soft-purged entry's windows count from the purge).
    struct StaleFallback {
        let entry: CacheEntry
        let timing: EntryTiming
    }

    /// The fallback, while its stale-if-error window is still open at `now` (a waiter
    /// may be told of a failure long after its lookup).
    func fallback(at now: Timestamp) -> CacheEntry? {
        guard let staleFallback, ServeDecision.staleIfError(staleFallback.timing, now: now) else { return nil }
        return staleFallback.entry
    }
    /// Fills are coalesced across instances too (a shared store): a leader leases first.
    let leasesFills: Bool

    init(request: HTTPHeaders, isHEAD: Bool, version: HTTPVersion, allocator: ByteBufferAllocator, leasesFills: Bool = false) {
        self.request = request
        self.isHEAD = isHEAD
        self.version = version
        self.allocator = allocator
        self.leasesFills = leasesFills
    }

    var isFinished: Bool { if case .finished = state { true } else { false } }

    /// A forwarded request whose answer's head has not come: a mutation's purge has not run.
    var forwardAwaitsHead: Bool { if case .fetching(.forward, .awaitingHead) = state { true } else { false } }

    /// A fill whose answer may still be stored: awaiting its head, collecting a storable
    /// body, or being committed.
    var fillMayStore: Bool {
        switch state {
        case .fetching(.fill, .awaitingHead), .fetching(.fill, .buffering), .committing: true
        default: false
        }
    }

    // MARK: Cache phases

    /// A cache route: look the key up.
    mutating func start(_ context: CacheContext) -> Action {
        guard case .idle = state else { return .none }
        self.context = context
        state = .lookingUp
        return .lookup
    }

    /// A request the cache does not answer.
    mutating func forward(marker: String) -> Action {
        guard case .idle = state else { return .none }
        state = .fetching(.forward(marker: marker), .awaitingHead)
        return .forward
    }

    /// Refused before anything started (a bad target, a refresh already under way).
    mutating func failAtOnce(_ error: ProxyError) -> Action {
        guard case .idle = state else { return .none }
        state = .finished
        return .fail(error, mark: nil)
    }

    /// The proxy's own refresh of `context`: fetch whatever is stored now, conditionally
    /// when `revalidating` (a background revalidation of an entry it found). (Its flight
    /// and fill guard are taken first; `fill` carries on.)
    mutating func refresh(_ context: CacheContext, revalidating: CacheEntry?, now: Timestamp) -> Action {
        guard case .idle = state else { return .none }
        self.context = context
        self.revalidating = revalidating
        state = .fetching(.fill(requestTime: now), .awaitingHead)
        return .fill(FillStart(generations: nil, revalidating: revalidating))
    }

    /// `entry` is what the lookup found and may serve (already purge-checked), or nil;
    /// `generations` are the shared counters a fill here must be stored under;
    /// `staleSince`: the entry was soft-purged then, and is served as expired since.
    mutating func lookupAnswered(_ entry: CacheEntry?, generations: EntryCodec.Generations?, staleSince: Timestamp? = nil,
                                 now: Timestamp) -> Action {
        guard case .lookingUp = state, let context else { return .none }
        // What this lookup found decides, not an earlier one's (purged since, perhaps).
        revalidating = nil
        staleFallback = nil
        guard let entry else { return fetch(generations, now: now) }
        let timing = (staleSince.map { entry.timing.expired(at: $0) } ?? entry.timing).within(context.route)
        switch ServeDecision.decide(timing, now: now, route: context.route, request: request, fetchedWhileWaiting: landed,
                                    forbidsStale: { StoragePolicy.forbidsStale(HeaderList(entry.storedHead().lines)) }) {
        case .fresh:
            state = .finished
            return .answerFromCache(FromCache(entry: entry))
        case .staleWhileRevalidate:
            state = .finished
            return .answerFromCache(FromCache(entry: entry, staleDetail: "stale-while-revalidate", revalidate: true))
        case .staleAccepted:
            state = .finished
            return .answerFromCache(FromCache(entry: entry, staleDetail: "max-stale", revalidate: true))
        case .fetch:
            if ServeDecision.staleIfError(timing, now: now) { staleFallback = StaleFallback(entry: entry, timing: timing) }
            revalidating = entry
            return fetch(generations ?? entry.generations, now: now)
        }
    }

    /// A miss (or too stale to serve): wait on the fill already under way, or lead one.
    /// `only-if-cached` on an origin route stops here with 504.
    private mutating func fetch(_ generations: EntryCodec.Generations?, now: Timestamp) -> Action {
        guard let context else { return .none }
        if case .origin = context.route.ttl, ServeDecision.requestDirectives(request).onlyIfCached {
            state = .finished
            return .fail(.onlyIfCached, mark: .onlyIfCached)
        }
        if context.respelled {
            // Served from the entry its route folds it into, but never filling it: an
            // upstream that routes on the raw path may read `/X/%61bc` as another resource
            // than `/x/abc` (a 404), which would be stored for everyone asking for `/x/abc`.
            state = .fetching(.forward(marker: CacheStatusField.miss(stored: false, notStored: .spelling)), .awaitingHead)
            return .forward
        }
        self.generations = generations
        if joined { return startFill(now: now, leaving: nil) }
        state = .enteringFlight
        return .enterFlight
    }

    /// What the flight registry said: wait as `waiter`, or fetch (leading or alone),
    /// first asking the other instances when they share the store. A revalidation
    /// fetches at once: its entry is still there to answer with.
    mutating func flightEntered(waiter: UInt64?, now: Timestamp) -> Action {
        guard case .enteringFlight = state, let context else { return .none }
        guard let waiter else {
            guard leasesFills, revalidating == nil else { return startFill(now: now, leaving: nil) }
            state = .leasing
            return .takeLease
        }
        state = .waitingOnFill(waiter: waiter)
        firstWait = firstWait ?? now
        guard let queuedAfterFailure else { return .waitForFill(bound: context.route.policy.upstreamTimeout) }
        return .waitForFill(bound: max(queuedAfterFailure.until - now, .zero))
    }

    /// The lease: this instance fetches (granted, or Redis could not tell), or waits for
    /// the instance that holds it, at most `upstreamTimeout`.
    mutating func leaseAnswered(otherFetches: Bool, now: Timestamp) -> Action {
        guard case .leasing = state, let context else { return .none }
        guard otherFetches else { return startFill(now: now, leaving: nil) }
        state = .waitingOnPeer
        return .waitForPeer(bound: context.route.policy.upstreamTimeout)
    }

    /// The other instance's fill is over (or the wait's bound passed): read the key
    /// again; if it is still not there, fetch without asking anyone again.
    mutating func peerFilled(now: Timestamp) -> Action {
        guard case .waitingOnPeer = state else { return .none }
        joined = true
        state = .lookingUp
        return .lookup
    }

    mutating func fillLanded(_ result: FlightResult, now: Timestamp) -> Action {
        guard case .waitingOnFill = state, let context else { return .none }
        switch result {
        case .stored:
            joined = true
            landed = true
            state = .lookingUp   // the entry is stored now; checked like any other (Vary, purges, strict)
            return .lookup
        case .queueAgain where rejoins < Self.maxRejoins:
            return lookUpAgain()
        case .keptOut(let reason) where rejoins < Self.maxRejoins && !keptOutByThisRequest(reason):
            return lookUpAgain()
        case .failed(let error, queueAgain: true) where rejoins == 0:
            // Once: an upstream that breaks off every request is everyone's.
            queuedAfterFailure = (error, (firstWait ?? now) + context.route.policy.upstreamTimeout)
            return lookUpAgain()
        case .fetchYourself, .queueAgain, .keptOut:
            joined = true
            return startFill(now: now, leaving: nil)
        case .failed(let error, _):
            joined = true
            state = .finished
            // As the leader's: a fallback is asked about again before it answers.
            return .answerInstead(error, mark: .failedFill, stale: fallback(at: now), cancelTransfer: false, land: result)
        }
    }

    /// Every waiter fetching on its own would be the stampede coalescing is for: they
    /// look up again (a purged entry is gone) and one of them leads.
    private mutating func lookUpAgain() -> Action {
        rejoins += 1
        state = .lookingUp
        return .lookup
    }

    /// The flight this request waits on, as its waiter.
    var waiter: UInt64? {
        if case .waitingOnFill(let waiter) = state { waiter } else { nil }
    }

    /// Waited `upstreamTimeout` on someone else's fill: fetch on our own, or, queued
    /// again after a failure, answer with it.
    mutating func waitTimedOut(now: Timestamp) -> Action {
        guard case .waitingOnFill(let waiter) = state else { return .none }
        joined = true
        if let (error, _) = queuedAfterFailure {
            state = .finished
            return .answerInstead(error, mark: .failedFill, stale: fallback(at: now), cancelTransfer: false, land: .failed(error, queueAgain: false))
        }
        return startFill(now: now, leaving: waiter)
    }

    private mutating func startFill(now: Timestamp, leaving: UInt64?) -> Action {
        state = .fetching(.fill(requestTime: now), .awaitingHead)
        return .fill(FillStart(generations: generations, revalidating: revalidating, leaving: leaving))
    }

    /// The commit of a fill landed: answer, unless the client left meanwhile.
    mutating func committed() -> Bool {
        guard case .committing = state else { return false }
        state = .finished
        return true
    }

    /// The answer was written in full (a hit, an error, a committed fill).
    mutating func answered() {
        state = .finished
    }

    mutating func clientGone() -> Action {
        switch state {
        case .finished:
            return .none
        case .waitingOnFill(let waiter):
            state = .finished
            return .abandon(waiter: waiter)
        default:
            state = .finished
            return .abandon(waiter: nil)
        }
    }
}
