import Logging
import NIOCore
import SidecacheCore
import Synchronization

/// Redis Cluster as the store sees it: one batch goes to the master owning its slot.
///
/// Each master gets a `RedisLink` of its own (a connection per event loop, its own
/// breaker and reconnection), so one node's trouble fails only the slots it owns. The
/// slot map is asked of the known masters, then the seeds, at start, every few seconds,
/// and whenever a node says the map is stale (`MOVED`) or a node's commands fail.
/// Redirects are followed within the batch (`MOVED` to the new owner, `ASK` with
/// `ASKING`, `TRYAGAIN` after a pause), so resharding costs a few round trips, never an
/// error; what cannot be delivered fails like any Redis trouble (an L2 bypass).
final class RedisCluster: Sendable {
    private struct State {
        var map: ClusterMap?
        /// Aligned with `map.masters`.
        var links: [RedisLink] = []
        /// Links made for a `MOVED` target the map does not know yet, until it does.
        var extra: [String: RedisLink] = [:]
        var refreshing = false
        var refreshAgain = false
        /// A follow-up request is scheduled: calls meanwhile leave it to that one.
        var followUp = false
        var stopped = false
        var timer: RepeatedTask?
        var lastError: String?
    }

    let endpoint: RedisEndpoint
    private let tls: RedisTLS?
    private let loops: [any EventLoop]
    let timeout: TimeAmount
    private let logger: Logger
    private let state = Mutex(State())
    private let onChange: Mutex<(@Sendable (RedisConnectionChange) -> Void)?> = Mutex(nil)
    /// Redirects followed (`MOVED`, `ASK`, `TRYAGAIN`), for tests and operators.
    let redirects = Atomic<Int>(0)
    /// Slot map requests made (each asks the nodes in turn until one answers).
    let mapRequests = Atomic<Int>(0)

    /// How often the map is asked for with nothing prompting it (a failover elsewhere, a
    /// node added with no slot of ours moved yet).
    static let refreshInterval = TimeAmount.seconds(5)
    /// Redirects followed for one batch before it fails (a slot still moving).
    static let maxRedirects = 5

    init(endpoint: RedisEndpoint, tls: RedisTLS?, loops: [any EventLoop], timeout: Duration, logger: Logger) {
        self.endpoint = endpoint
        self.tls = tls
        self.loops = loops
        self.timeout = .milliseconds(timeout.milliseconds)
        self.logger = logger
    }

    func whenConnectionChanges(_ body: @escaping @Sendable (RedisConnectionChange) -> Void) {
        onChange.withLock { $0 = body }
    }

    func start() {
        refresh()
        let timer = loops[0].scheduleRepeatedTask(initialDelay: Self.refreshInterval, delay: Self.refreshInterval) { [self] _ in
            refresh()
        }
        state.withLock { $0.timer = timer }
    }

    func shutdown() {
        let links = state.withLock { s in
            s.stopped = true
            s.timer?.cancel()
            return s.links + Array(s.extra.values)
        }
        for link in links { link.shutdown() }
    }

    var isStopped: Bool { state.withLock { $0.stopped } }

    // MARK: Sending

    /// Sends `commands` (all on keys of `slot`) to the slot's master, following redirects.
    func send(_ commands: [[RedisArgument]], slot: Int, on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        guard let link = owner(of: slot) else { return noOwner(slot, on: loop) }
        return deliver(link.send(commands, on: loop), commands, via: link, slot: slot, on: loop)
    }

    /// `RedisLink.probe` on the slot's master (shared within a loop pass as there).
    func probe(_ command: [RedisArgument], slot: Int, on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        guard let link = owner(of: slot) else { return noOwner(slot, on: loop) }
        return deliver(link.probe(command, on: loop), [command], via: link, slot: slot, on: loop)
    }

    /// The link of every master, in map order (for what asks each node: INFO, SCAN, CONFIG).
    var masters: [RedisLink] { state.withLock { $0.links } }

    /// The online replicas of every master in the map.
    var replicas: Int { state.withLock { $0.map?.masters.reduce(0) { $0 + $1.replicas } ?? 0 } }

    /// Replicas the master of `slot` has (a purge on it waits for them).
    func replicas(ofSlot slot: Int) -> Int {
        state.withLock { s in s.map.flatMap { map in map.owner(of: slot).map { map.masters[$0].replicas } } ?? 0 }
    }

    /// The index of `slot`'s master in the map, to group a purge's batches by node.
    func master(ofSlot slot: Int) -> Int? { state.withLock { $0.map?.owner(of: slot) } }

    private func owner(of slot: Int) -> RedisLink? {
        state.withLock { s in s.map?.owner(of: slot).map { s.links[$0] } }
    }

    private func noOwner(_ slot: Int, on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        refresh()
        return loop.makeFailedFuture(RedisFailure.unavailable("no master serves slot \(slot) now"))
    }

    private func deliver(_ sent: EventLoopFuture<[RedisValue]>, _ commands: [[RedisArgument]], via link: RedisLink,
                         slot: Int, on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        sent.flatMap { [self] replies in
            follow(replies, commands, answeredBy: link.endpoint.host, slot: slot, attempt: 0, on: loop)
        }.flatMapError { [self] error in
            // A node that stops answering may be failing over: learn the new map soon.
            refresh()
            return loop.makeFailedFuture(error)
        }
    }

    /// Replaces every redirected reply with the answer of the node it points to: the
    /// redirects of one kind and target at a time, until none is left.
    private func follow(_ replies: [RedisValue], _ commands: [[RedisArgument]], answeredBy host: String, slot: Int,
                        attempt: Int, on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        guard let first = replies.lazy.compactMap({ ClusterRedirect($0, answeredBy: host) }).first else {
            return loop.makeSucceededFuture(replies)
        }
        guard attempt < Self.maxRedirects else {
            return loop.makeFailedFuture(RedisFailure.unavailable("slot \(slot) still moving after \(attempt) redirects"))
        }
        redirects.add(1, ordering: .relaxed)
        let indexes = replies.indices.filter { ClusterRedirect(replies[$0], answeredBy: host) == first }
        // A batch that ends with `WAIT` (a purge) wants its writes on the replicas: the
        // node it went to waited for its own, so the writes sent elsewhere wait again there.
        let wait = commands.last.flatMap { command -> [RedisArgument]? in
            if case .text("WAIT")? = command.first { return command }
            return nil
        }
        let again = indexes.map { commands[$0] } + (wait.map { [$0] } ?? [])
        let answered: EventLoopFuture<(replies: [RedisValue], host: String)>
        switch first {
        case .moved(let target, let port):
            refresh()
            let link = link(at: target, port: port)
            answered = link.send(again, on: loop).map { ($0, target) }
        case .ask(let target, let port):
            let link = link(at: target, port: port)
            answered = link.send(again.flatMap { [["ASKING"], $0] }, on: loop).map { replies in
                (stride(from: 1, to: replies.count, by: 2).map { replies[$0] }, target)
            }
        case .tryAgain:
            answered = loop.scheduleTask(in: .milliseconds(10 << Int64(attempt))) {}.futureResult.flatMap { [self] in
                guard let link = owner(of: slot) else { return noOwner(slot, on: loop) }
                return link.send(again, on: loop)
            }.map { ($0, host) }
        case .down:
            refresh()
            return loop.makeFailedFuture(RedisFailure.unavailable("cluster down for slot \(slot)"))
        }
        return answered.flatMapThrowing { answer -> (replies: [RedisValue], host: String) in
            guard let wait else { return answer }
            guard case .text(let wanted)? = wait.dropFirst().first, let needed = Int(wanted),
                  let acknowledged = answer.replies.last?.integer, acknowledged >= needed else {
                throw RedisFailure.unavailable("redirected writes of slot \(slot) not on the replicas of \(answer.host) yet")
            }
            return (Array(answer.replies.dropLast()), answer.host)
        }.flatMap { [self] answer in
            var merged = replies
            for (i, index) in indexes.enumerated() where i < answer.replies.count { merged[index] = answer.replies[i] }
            return follow(merged, commands, answeredBy: answer.host, slot: slot, attempt: attempt + 1, on: loop)
        }
    }

    /// The link of the master at `host:port`; one is made (and kept until the map knows
    /// the node) when a redirect names a node the map does not.
    private func link(at host: String, port: Int) -> RedisLink {
        let (link, made) = state.withLock { s -> (RedisLink, Bool) in
            if let i = s.map?.masters.firstIndex(where: { $0.host == host && $0.port == port }) { return (s.links[i], false) }
            let address = "\(host):\(port)"
            if let known = s.extra[address] { return (known, false) }
            let link = makeLink(host: host, port: port)
            s.extra[address] = link
            return (link, true)
        }
        if made { link.start() }
        return link
    }

    private func makeLink(host: String, port: Int) -> RedisLink {
        let link = RedisLink(endpoint: endpoint.at(host: host, port: port), tls: tls, loops: loops,
                             timeout: .nanoseconds(timeout.nanoseconds), logger: logger)
        link.whenConnectionChanges { [self] change in onChange.withLock { $0 }?(change) }
        return link
    }

    // MARK: The slot map

    /// Asks for the map unless a request is under way (then once more after it) or one
    /// is scheduled. One chain at a time: every failed command asks for the map, and
    /// while a master was down each request that ended scheduled another, so chains
    /// started between them never merged (some 75 `CLUSTER SHARDS` a second, each on a
    /// new connection, after 30 s of a master away).
    func refresh() {
        let go = state.withLock { s -> Bool in
            guard !s.stopped, !s.followUp else { return false }
            if s.refreshing { s.refreshAgain = true; return false }
            s.refreshing = true
            return true
        }
        guard go else { return }
        mapRequests.add(1, ordering: .relaxed)
        let known = state.withLock { s in
            (s.map?.masters.map { RedisEndpoint.Node(host: $0.host, port: $0.port) } ?? []) + (s.map?.replicas ?? [])
        }
        let seeds = endpoint.cluster ?? [RedisEndpoint.Node(host: endpoint.host, port: endpoint.port)]
        ask(known + seeds.filter { !known.contains($0) }, on: loops[0]).whenComplete { [self] result in
            switch result {
            case .success(let map): install(map)
            case .failure(let error):
                let first = state.withLock { s in
                    defer { s.lastError = "\(error)" }
                    return s.lastError != "\(error)"
                }
                if first { logger.warning("redis cluster map unavailable", metadata: ["redis": "\(endpoint)", "error": "\(error)"]) }
            }
            // While a master of the map has no connection it may be failing over: ask
            // again soon, so its slots move to the promoted replica without waiting for
            // the periodic refresh.
            let masterDown = masters.contains { !$0.status.connected }
            let again = state.withLock { s in
                s.refreshing = false
                defer { s.refreshAgain = false }
                s.followUp = s.refreshAgain || s.map == nil || masterDown
                return s.followUp
            }
            if again {
                loops[0].scheduleTask(in: masterDown ? .milliseconds(500) : .milliseconds(100)) { [self] in
                    state.withLock { $0.followUp = false }
                    refresh()
                }
            }
        }
    }

    /// The map as the first node that gives a complete one describes it.
    private func ask(_ nodes: [RedisEndpoint.Node], on loop: any EventLoop) -> EventLoopFuture<ClusterMap> {
        guard let node = nodes.first else { return loop.makeFailedFuture(RedisFailure.unavailable("no cluster node gave a slot map")) }
        let wait = max(timeout, .milliseconds(500))
        return RedisConnection.connect(to: endpoint.at(host: node.host, port: node.port), tls: tls, on: loop, timeout: wait)
            .flatMap { [endpoint] connection in
                connection.send([["CLUSTER", "SHARDS"]], timeout: wait).flatMap { replies -> EventLoopFuture<ClusterMap?> in
                    if let map = ClusterMap.fromShards(replies[0], askedHost: node.host, tls: endpoint.tls) {
                        return loop.makeSucceededFuture(map)
                    }
                    // Before Redis 7: no SHARDS.
                    return connection.send([["CLUSTER", "SLOTS"]], timeout: wait).map { ClusterMap.fromSlots($0[0], askedHost: node.host) }
                }.always { _ in connection.close() }
            }
            .flatMapThrowing { map -> ClusterMap in
                guard let map, map.isComplete else { throw RedisFailure.unavailable("\(node.host):\(node.port) gave no complete slot map") }
                return map
            }
            .flatMapError { [self] _ in ask(Array(nodes.dropFirst()), on: loop) }
    }

    private func install(_ map: ClusterMap) {
        let (started, stopped, changed) = state.withLock { s -> ([RedisLink], [RedisLink], Bool) in
            guard !s.stopped, s.map != map else { return ([], [], false) }
            var old: [String: RedisLink] = s.extra
            if let previous = s.map { for (m, link) in zip(previous.masters, s.links) { old[m.address] = link } }
            var started: [RedisLink] = []
            s.links = map.masters.map { m in
                if let link = old.removeValue(forKey: m.address) { return link }
                let link = makeLink(host: m.host, port: m.port)
                started.append(link)
                return link
            }
            s.extra = [:]
            s.map = map
            s.lastError = nil
            return (started, Array(old.values), true)
        }
        guard changed else { return }
        logger.notice("redis cluster map", metadata: ["masters": "\(map.masters.map(\.address).joined(separator: ","))"])
        for link in started { link.start() }
        for link in stopped { link.shutdown() }
        onChange.withLock { $0 }?(.remapped)
    }

    // MARK: State

    /// Every master of the map connected, with the worst breaker among them.
    var status: RedisLink.Status {
        let (links, error) = state.withLock { ($0.links, $0.lastError) }
        let each = links.map(\.status)
        return RedisLink.Status(connected: !each.isEmpty && each.allSatisfy(\.connected),
                                breaker: each.first { $0.breaker != "closed" }?.breaker ?? "closed",
                                lastError: error ?? each.lazy.compactMap(\.lastError).first)
    }

    func isUsable(slot: Int) -> Bool { owner(of: slot)?.isUsable ?? false }
}
