import NIOCore
import SidecacheCore

/// Where the store's connections go: the URL's server, or with Sentinel the master the
/// sentinels name now. Asked again on every (re)connect, so a failover is followed by
/// the reconnect it causes (and a demoted master's READONLY closes the connection).
enum RedisMaster {
    static func locate(_ endpoint: RedisEndpoint, tls: RedisTLS?, on loop: any EventLoop,
                       timeout: TimeAmount) -> EventLoopFuture<RedisEndpoint> {
        guard let sentinel = endpoint.sentinel else { return loop.makeSucceededFuture(endpoint) }
        return ask(sentinel.nodes[...], for: sentinel.master, endpoint, tls: tls, on: loop, timeout: timeout)
    }

    /// A connection to the first sentinel that answers (for its `+switch-master` events).
    static func connectToSentinel(_ endpoint: RedisEndpoint, tls: RedisTLS?, on loop: any EventLoop, timeout: TimeAmount,
                                  onPush: @escaping @Sendable (RedisValue) -> Void) -> EventLoopFuture<RedisConnection> {
        let sentinels = (endpoint.sentinel?.nodes ?? []).map { RedisEndpoint(host: $0.host, port: $0.port, tls: endpoint.tls) }
        return connectToFirst(sentinels[...], tls: tls, on: loop, timeout: timeout, onPush: onPush)
    }

    /// A connection for a subscription: with Sentinel to the master, in a cluster to the
    /// first seed node that answers (a message published on any node reaches every node),
    /// else to the server.
    static func connectForSubscription(_ endpoint: RedisEndpoint, tls: RedisTLS?, on loop: any EventLoop, timeout: TimeAmount,
                                       onPush: @escaping @Sendable (RedisValue) -> Void) -> EventLoopFuture<RedisConnection> {
        if let seeds = endpoint.cluster {
            return connectToFirst(seeds.map { endpoint.at(host: $0.host, port: $0.port) }[...], tls: tls, on: loop, timeout: timeout,
                                  onPush: onPush)
        }
        return locate(endpoint, tls: tls, on: loop, timeout: timeout).flatMap { target in
            RedisConnection.connect(to: target, tls: tls, on: loop, timeout: timeout, onPush: onPush)
        }
    }

    private static func connectToFirst(_ nodes: ArraySlice<RedisEndpoint>, tls: RedisTLS?, on loop: any EventLoop, timeout: TimeAmount,
                                       onPush: @escaping @Sendable (RedisValue) -> Void) -> EventLoopFuture<RedisConnection> {
        guard let node = nodes.first else { return loop.makeFailedFuture(RedisFailure.unavailable("no server answers")) }
        return RedisConnection.connect(to: node, tls: tls, on: loop, timeout: timeout, onPush: onPush)
            .flatMapError { _ in connectToFirst(nodes.dropFirst(), tls: tls, on: loop, timeout: timeout, onPush: onPush) }
    }

    /// The sentinels in order until one names the master.
    private static func ask(_ nodes: ArraySlice<RedisEndpoint.Node>, for master: String, _ endpoint: RedisEndpoint,
                            tls: RedisTLS?, on loop: any EventLoop, timeout: TimeAmount) -> EventLoopFuture<RedisEndpoint> {
        guard let node = nodes.first else {
            return loop.makeFailedFuture(RedisFailure.unavailable("no sentinel named a master for \(master)"))
        }
        let question: [RedisArgument] = ["SENTINEL", "get-master-addr-by-name", .text(master)]
        return RedisConnection.connect(to: RedisEndpoint(host: node.host, port: node.port, tls: endpoint.tls), tls: tls, on: loop,
                                       timeout: timeout)
            .flatMap { connection in
                connection.send([question], timeout: timeout).always { _ in connection.close() }
            }
            .flatMapThrowing { replies -> RedisEndpoint in
                guard let pair = replies.first?.array, pair.count == 2, let host = pair[0].text, let port = pair[1].integer else {
                    throw RedisFailure.unavailable("sentinel \(node.host):\(node.port) knows no master \(master)")
                }
                return endpoint.at(host: host, port: Int(port))
            }
            .flatMapError { _ in ask(nodes.dropFirst(), for: master, endpoint, tls: tls, on: loop, timeout: timeout) }
    }
}
