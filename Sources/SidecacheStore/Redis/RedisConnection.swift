import NIOCore
import NIOPosix
import SidecacheConfig

/// One connection to Redis on one event loop: connect, AUTH, SELECT, then pipelined batches.
final class RedisConnection: Sendable {
    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    static func connect(to endpoint: RedisEndpoint, on eventLoop: any EventLoop, timeout: TimeAmount,
                        onPush: (@Sendable (RedisValue) -> Void)? = nil) -> EventLoopFuture<RedisConnection> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(max(timeout, .milliseconds(200)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(onPush: onPush))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMap { channel in
                let connection = RedisConnection(channel: channel)
                var hello: [[RedisArgument]] = []
                if let password = endpoint.password {
                    hello.append(endpoint.user.map { ["AUTH", .text($0), .text(password)] } ?? ["AUTH", .text(password)])
                }
                if endpoint.database != 0 { hello.append(["SELECT", .text(String(endpoint.database))]) }
                guard !hello.isEmpty else { return eventLoop.makeSucceededFuture(connection) }
                return connection.send(hello, timeout: max(timeout, .milliseconds(500))).flatMapThrowing { replies in
                    if let error = replies.first(where: \.isError), case .error(let message) = error {
                        channel.close(promise: nil)
                        throw RedisFailure.replyError(message)
                    }
                    return connection
                }
            }
    }

    /// Writes `commands` with one flush; the replies come back in order.
    func send(_ commands: [[RedisArgument]], timeout: TimeAmount) -> EventLoopFuture<[RedisValue]> {
        var payload = channel.allocator.buffer(capacity: 64 * commands.count)
        for c in commands { payload.writeRedisCommand(c) }
        let promise = channel.eventLoop.makePromise(of: [RedisValue].self)
        let batch = RedisBatch(payload: payload, count: commands.count, deadline: .now() + timeout, promise: promise)
        channel.writeAndFlush(batch).whenFailure { _ in promise.fail(RedisFailure.connectionLost) }
        return promise.futureResult
    }

    var isActive: Bool { channel.isActive }

    func close() { channel.close(promise: nil) }
}
