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
        func attempt(_ nodes: ArraySlice<RedisEndpoint.Sentinel.Node>) -> EventLoopFuture<RedisConnection> {
            guard let node = nodes.first else { return loop.makeFailedFuture(RedisFailure.unavailable("no sentinel answers")) }
            return RedisConnection.connect(to: RedisEndpoint(host: node.host, port: node.port, tls: endpoint.tls), tls: tls, on: loop,
                                           timeout: timeout, onPush: onPush)
                .flatMapError { _ in attempt(nodes.dropFirst()) }
        }
        return attempt(endpoint.sentinel?.nodes[...] ?? [])
    }

    /// The sentinels in order until one names the master.
    private static func ask(_ nodes: ArraySlice<RedisEndpoint.Sentinel.Node>, for master: String, _ endpoint: RedisEndpoint,
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
