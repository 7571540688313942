import Logging
import NIOCore
import SidecacheCore
import Synchronization

/// The proxy's way to Redis: one pipelined connection per event loop (no hop between
/// threads on the hit path), a shared circuit breaker, and reconnection with
/// exponential backoff and jitter up to 2 s. Redis trouble turns into fast failures
/// here, which callers treat as cache bypasses: never a client error, never a stall.
public final class RedisLink: Sendable {
    public struct Status: Sendable, Equatable {
        public var connected: Bool
        public var breaker: String
        public var lastError: String?
    }

    private final class Slot: Sendable {
        let loop: any EventLoop
        let connection = Mutex<RedisConnection?>(nil)
        init(loop: any EventLoop) { self.loop = loop }
    }

    private struct Shared {
        var breaker = CircuitBreaker()
        /// Breaker changes are logged at most every few seconds; flaps in between are counted.
        var lastBreakerLog = NIODeadline.uptimeNanoseconds(0)
        var unloggedFlaps = 0
        var lastError: String?
        var connectedSlots = 0
        var stopped = false
    }

    let endpoint: RedisEndpoint
    let tls: RedisTLS?
    let timeout: TimeAmount
    private let slots: [ObjectIdentifier: Slot]
    private let shared = Mutex(Shared())
    /// Set (under `shared`'s lock) while the breaker is closed with no failure counted and
    /// no error to report: commands then go, and their successes count, without the lock.
    private let healthy = Atomic<Bool>(false)
    private let logger: Logger
    /// Called (on some event loop) each time one of the link's connections is made or
    /// lost: the store stops reading at a loss and learns its epochs again at a connect
    /// (the server behind may have restarted from a snapshot, or be a promoted replica),
    /// then replays its purge journal.
    private let onChange: Mutex<(@Sendable (RedisConnectionChange) -> Void)?> = Mutex(nil)

    public init(endpoint: RedisEndpoint, tls: RedisTLS? = nil, loops: [any EventLoop], timeout: Duration, logger: Logger) {
        self.endpoint = endpoint
        self.tls = tls
        self.timeout = .milliseconds(timeout.milliseconds)
        self.logger = logger
        var slots: [ObjectIdentifier: Slot] = [:]
        for loop in loops { slots[ObjectIdentifier(loop)] = Slot(loop: loop) }
        self.slots = slots
    }

    func whenConnectionChanges(_ body: @escaping @Sendable (RedisConnectionChange) -> Void) {
        onChange.withLock { $0 = body }
    }

    public func start() {
        for slot in slots.values { connect(slot, attempt: 0) }
    }

    /// Closes every connection: each reconnects, and with Sentinel asks for the master
    /// again (a sentinel announced a new one).
    func reconnectAll() {
        for slot in slots.values { slot.connection.withLock { $0 }?.close() }
    }

    public func shutdown() {
        shared.withLock { $0.stopped = true }
        for slot in slots.values { slot.connection.withLock { $0 }?.close() }
    }

    /// Shut down: nothing should be retried any more.
    var isStopped: Bool { shared.withLock { $0.stopped } }

    /// Connected with the breaker closed, or open past its cool-down: worth waiting on
    /// (briefly) for a check. The check is then the probe that may close it: strict hits
    /// ask this before they ask Redis, and while it said no to every open breaker, an
    /// instance serving only hits never probed and never closed it, so after a stall of
    /// a second it served its L1 unconfirmed, other instances' purges unseen, for as
    /// long as `outageGrace`.
    public var isUsable: Bool {
        shared.withLock { s in
            guard s.connectedSlots > 0 else { return false }
            if case .closed = s.breaker.state { return true }
            return s.breaker.wouldAllow(now: .now())
        }
    }

    public var status: Status {
        shared.withLock { Status(connected: $0.connectedSlots > 0, breaker: $0.breaker.label, lastError: $0.lastError) }
    }

    /// Replicas the master behind `loop`'s connection had at connect (Sentinel; else 0),
    /// or when a purge last came short of them (`relearnReplicas`).
    func replicas(on loop: any EventLoop) -> Int {
        connection(for: loop)?.replicas.load(ordering: .relaxed) ?? 0
    }

    /// Asks the master for the replicas connected now (`ROLE`) and keeps their number on
    /// every connection. A purge's `WAIT` came short: a replica gone for good would have
    /// every replay of the journal wait for it in vain, and L2 go unread for as long.
    func relearnReplicas(on loop: any EventLoop) {
        let connections = slots.values.compactMap { $0.connection.withLock { $0 } }
        send([["ROLE"]], on: loop).whenSuccess { replies in
            guard let role = replies.first?.array, role.first?.text == "master" else { return }
            let connected = RedisConnection.connectedReplicas(role)
            for connection in connections { connection.replicas.store(connected, ordering: .relaxed) }
        }
    }

    /// Sends `commands` as one batch on the connection of `loop` (or any connected
    /// one); the outcome goes to `reply` on `loop`. Fails at once while the breaker is
    /// open or nothing is connected.
    func send(_ commands: [[RedisArgument]], on loop: any EventLoop, reply: @escaping RedisReply) {
        run(on: loop, reply) { $0.send(commands, timeout: $1, reply: $2) }
    }

    func send(_ commands: [[RedisArgument]], on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        let promise = loop.makePromise(of: [RedisValue].self)
        send(commands, on: loop) { promise.completeWith($0) }
        return promise.futureResult
    }

    /// A read shared by the requests of one loop pass that ask the very same (see
    /// `RedisConnection.probe`): its outcome goes to `target` on `loop`. Shared only when
    /// called on `loop` and its own connection is up; otherwise a read of its own.
    func probe(_ command: [RedisArgument], on loop: any EventLoop, for target: any RedisReplyTarget) {
        switch connection(toUseFor: loop) {
        case .failure(let error):
            target.redisAnswered(.failure(error))
        case .success(let connection) where connection.channel.eventLoop === loop && loop.inEventLoop:
            connection.probe(command, timeout: timeout, for: target, countedBy: self)
        case .success(let connection):
            connection.send([command], timeout: timeout, reply: counted(on: loop) { target.redisAnswered($0) })
        }
    }

    /// `probe` with a future, for a cluster's slot master (`RedisCluster` follows redirects
    /// on futures).
    func probe(_ command: [RedisArgument], on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        let promise = loop.makePromise(of: [RedisValue].self)
        probe(command, on: loop, for: RedisReplyClosure { promise.completeWith($0) })
        return promise.futureResult
    }

    /// Runs `body` on a connection for `loop`. Its outcome, once the breaker has counted
    /// it, goes to `reply` on `loop`.
    private func run(on loop: any EventLoop, _ reply: @escaping RedisReply,
                     _ body: (RedisConnection, TimeAmount, @escaping RedisReply) -> Void) {
        switch connection(toUseFor: loop) {
        case .failure(let error): reply(.failure(error))
        case .success(let connection): body(connection, timeout, counted(on: loop, reply))
        }
    }

    /// The connection a command for `loop` goes on, or why none may: the breaker is open,
    /// or nothing is connected (which the breaker counts).
    private func connection(toUseFor loop: any EventLoop) -> Result<RedisConnection, RedisFailure> {
        if !healthy.load(ordering: .relaxed) {
            let now = NIODeadline.now()
            guard shared.withLock({ $0.breaker.allow(now: now) }) else {
                return .failure(RedisFailure.unavailable("circuit breaker open"))
            }
        }
        guard let connection = connection(for: loop) else {
            record(RedisFailure.unavailable("not connected"))
            return .failure(RedisFailure.unavailable("not connected"))
        }
        return .success(connection)
    }

    /// `reply`, given on `loop` once the breaker has counted the outcome.
    private func counted(on loop: any EventLoop, _ reply: @escaping RedisReply) -> RedisReply {
        { [self] outcome in
            count(outcome)
            if loop.inEventLoop { reply(outcome) } else { loop.execute { reply(outcome) } }
        }
    }

    /// The breaker counts a command's outcome.
    func count(_ outcome: Result<[RedisValue], any Error>) {
        switch outcome {
        case .success: recordSuccess()
        case .failure(let error): record(error)
        }
    }

    private func connection(for loop: any EventLoop) -> RedisConnection? {
        if let own = slots[ObjectIdentifier(loop)]?.connection.withLock({ $0 }), own.isActive { return own }
        for slot in slots.values {
            if let c = slot.connection.withLock({ $0 }), c.isActive { return c }
        }
        return nil
    }

    private func recordSuccess() {
        if healthy.load(ordering: .relaxed) { return }   // nothing to reset
        let log = shared.withLock { s -> Int? in
            if s.lastError != nil { s.lastError = nil }   // Redis answers again: nothing to report
            healthy.store(true, ordering: .relaxed)
            return s.breaker.succeeded() ? Self.shouldLog(&s) : nil
        }
        if let flaps = log { logger.notice("redis circuit breaker closed", metadata: flaps > 0 ? ["unloggedFlaps": "\(flaps)"] : [:]) }
    }

    private func record(_ error: any Error) {
        let (opened, log) = shared.withLock { s -> (Bool, Int?) in
            healthy.store(false, ordering: .relaxed)
            s.lastError = "\(error)"
            guard s.breaker.failed(now: .now()) else { return (false, nil) }
            return (true, Self.shouldLog(&s))
        }
        if let flaps = log {
            logger.warning("redis circuit breaker open: commands fail fast",
                           metadata: ["error": "\(error)", "unloggedFlaps": "\(flaps)"])
        }
        if opened { onChange.withLock { $0 }?(.breakerOpened) }
    }

    /// A flapping breaker (a Redis at its limit) logs a line every 5 s with a count,
    /// not one per flap. Returns the flaps not logged since the last line, or nil.
    private static func shouldLog(_ s: inout Shared) -> Int? {
        let now = NIODeadline.now()
        guard now - s.lastBreakerLog >= .seconds(5) else {
            s.unloggedFlaps += 1
            return nil
        }
        defer { s.lastBreakerLog = now; s.unloggedFlaps = 0 }
        return s.unloggedFlaps
    }

    private func connect(_ slot: Slot, attempt: Int) {
        guard !isStopped else { return }
        let wait = max(timeout, .milliseconds(500))
        RedisMaster.locate(endpoint, tls: tls, on: slot.loop, timeout: wait).flatMap { [endpoint, tls] target in
            RedisConnection.connect(to: target, tls: tls, requireMaster: endpoint.sentinel != nil, on: slot.loop, timeout: wait)
        }.whenComplete { [self] result in
            switch result {
            case .success(let connection):
                slot.connection.withLock { $0 = connection }
                let first = shared.withLock { s in
                    s.connectedSlots += 1
                    _ = s.breaker.succeeded()
                    return s.connectedSlots == 1
                }
                if first {
                    let server = connection.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                    logger.notice("redis connected", metadata: ["redis": "\(endpoint)", "server": "\(server)"])
                }
                onChange.withLock { $0 }?(.connected)
                connection.channel.closeFuture.whenComplete { [self] _ in
                    slot.connection.withLock { $0 = nil }
                    let (last, stopped) = shared.withLock { s in
                        s.connectedSlots -= 1
                        return (s.connectedSlots == 0 && !s.stopped, s.stopped)
                    }
                    if last { logger.warning("redis disconnected; reconnecting", metadata: ["redis": "\(endpoint)"]) }
                    // A link shut down (a cluster node left the map) never connects again:
                    // its loss would leave the epochs forgotten with nothing to learn them.
                    if !stopped { onChange.withLock { $0 }?(.lost) }
                    reconnect(slot, attempt: 0)
                }
            case .failure(let error):
                let firstFailure = shared.withLock { s in
                    healthy.store(false, ordering: .relaxed)
                    defer { s.lastError = "\(error)" }
                    return s.lastError != "\(error)"
                }
                if firstFailure { logger.warning("redis connect failed; retrying with backoff", metadata: ["redis": "\(endpoint)", "error": "\(error)"]) }
                reconnect(slot, attempt: attempt + 1)
            }
        }
    }

    /// Backs off (`Backoff`) before the next attempt; a dropped connection is retried at once.
    private func reconnect(_ slot: Slot, attempt: Int) {
        guard !isStopped else { return }
        slot.loop.scheduleTask(in: attempt == 0 ? .milliseconds(10) : Backoff.delay(attempt: attempt)) { [self] in
            connect(slot, attempt: attempt)
        }
    }
}

/// What `RedisLink.whenConnectionChanges` reports: one of a link's connections was made or
/// lost, its breaker opened (connected, but Redis stopped answering), or (a cluster) the
/// slot map changed, so stripes may now be on other nodes.
enum RedisConnectionChange: Sendable {
    case connected
    case lost
    case breakerOpened
    case remapped
}
