import Logging
import NIOCore
import SidecacheCore

/// Where the store's commands go: one server (or the master Sentinel names) through one
/// link, or the master of a cluster that owns each batch's slot. Every batch the store
/// sends touches keys of one slot (see `RedisKeys`); with one server the slot is not used.
enum RedisServers: Sendable {
    case one(RedisLink)
    case cluster(RedisCluster)

    init(endpoint: RedisEndpoint, tls: RedisTLS?, loops: [any EventLoop], timeout: Duration, logger: Logger) {
        if endpoint.cluster != nil {
            self = .cluster(RedisCluster(endpoint: endpoint, tls: tls, loops: loops, timeout: timeout, logger: logger))
        } else {
            self = .one(RedisLink(endpoint: endpoint, tls: tls, loops: loops, timeout: timeout, logger: logger))
        }
    }

    func send(_ commands: [[RedisArgument]], slot: Int, on loop: any EventLoop) -> EventLoopFuture<[RedisValue]> {
        switch self {
        case .one(let link): link.send(commands, on: loop)
        case .cluster(let cluster): cluster.send(commands, slot: slot, on: loop)
        }
    }

    /// `send` with no future on one server (the hit path's read): the outcome goes to
    /// `reply` on `loop`.
    func send(_ commands: [[RedisArgument]], slot: Int, on loop: any EventLoop, reply: @escaping RedisReply) {
        switch self {
        case .one(let link): link.send(commands, on: loop, reply: reply)
        case .cluster(let cluster): cluster.send(commands, slot: slot, on: loop).whenComplete(reply)
        }
    }

    /// `RedisLink.probe`, its outcome given to `target` on `loop` (no future on one server).
    func probe(_ command: [RedisArgument], slot: Int, on loop: any EventLoop, for target: any RedisReplyTarget) {
        switch self {
        case .one(let link): link.probe(command, on: loop, for: target)
        case .cluster(let cluster): cluster.probe(command, slot: slot, on: loop).whenComplete { target.redisAnswered($0) }
        }
    }

    /// Every master's link (one server: its link).
    var masters: [RedisLink] {
        switch self {
        case .one(let link): [link]
        case .cluster(let cluster): cluster.masters
        }
    }

    /// Replicas a purge on `slot` waits for: Sentinel's master's, a cluster master's; a
    /// lone server's are not waited for.
    func replicas(ofSlot slot: Int, on loop: any EventLoop) -> Int {
        switch self {
        case .one(let link): link.endpoint.sentinel == nil ? 0 : link.replicas(on: loop)
        case .cluster(let cluster): cluster.replicas(ofSlot: slot)
        }
    }

    /// A purge on `slot` came short of the replicas it waited for: learn how many there
    /// are now (Sentinel: the master's `ROLE`; a cluster: the next slot map).
    func relearnReplicas(ofSlot slot: Int, on loop: any EventLoop) {
        switch self {
        case .one(let link): if link.endpoint.sentinel != nil { link.relearnReplicas(on: loop) }
        case .cluster(let cluster): cluster.refresh()
        }
    }

    /// Which node serves `slot` (batches to one node can carry one WAIT for all of them).
    func node(ofSlot slot: Int) -> Int {
        switch self {
        case .one: 0
        case .cluster(let cluster): cluster.master(ofSlot: slot) ?? -1
        }
    }

    func isUsable(slot: Int) -> Bool {
        switch self {
        case .one(let link): link.isUsable
        case .cluster(let cluster): cluster.isUsable(slot: slot)
        }
    }

    var status: RedisLink.Status {
        switch self {
        case .one(let link): link.status
        case .cluster(let cluster): cluster.status
        }
    }

    var endpoint: RedisEndpoint {
        switch self {
        case .one(let link): link.endpoint
        case .cluster(let cluster): cluster.endpoint
        }
    }

    var timeout: TimeAmount {
        switch self {
        case .one(let link): link.timeout
        case .cluster(let cluster): cluster.timeout
        }
    }

    var isStopped: Bool {
        switch self {
        case .one(let link): link.isStopped
        case .cluster(let cluster): cluster.isStopped
        }
    }

    /// Called each time a connection to a server (a cluster: to any node) is made or lost.
    func whenConnectionChanges(_ body: @escaping @Sendable (RedisConnectionChange) -> Void) {
        switch self {
        case .one(let link): link.whenConnectionChanges(body)
        case .cluster(let cluster): cluster.whenConnectionChanges(body)
        }
    }

    func start() {
        switch self {
        case .one(let link): link.start()
        case .cluster(let cluster): cluster.start()
        }
    }

    func shutdown() {
        switch self {
        case .one(let link): link.shutdown()
        case .cluster(let cluster): cluster.shutdown()
        }
    }
}
