import NIOCore
import NIOPosix
import SidecacheCore
import Synchronization

/// One connection to Redis on one event loop: connect (TLS when `tls` is given), AUTH,
/// SELECT, PING, then pipelined batches.
final class RedisConnection: Sendable {
    let channel: any Channel
    private struct PassState {
        /// A flush is queued for this loop pass.
        var flushQueued = false
        /// A sequence probe written this pass and not flushed yet, with its sharing key:
        /// later requests of the same pass asking the same share it (its answer is read
        /// after they arrived).
        var unflushedProbe: (key: Int, future: EventLoopFuture<[RedisValue]>)?
    }

    /// Touched on the channel's loop only.
    private let pass: NIOLoopBoundBox<PassState>
    /// Replicas the master reported at connect (`ROLE`; Sentinel only): a purge waits
    /// until that many have it, so a failover cannot lose it.
    let replicas = Atomic<Int>(0)

    private init(channel: any Channel) {
        self.channel = channel
        self.pass = NIOLoopBoundBox(PassState(), eventLoop: channel.eventLoop)
    }

    /// `requireMaster`: the server must say it is a master (`ROLE`), else the connection
    /// fails (an address a sentinel gave may be a demoted master by now).
    static func connect(to endpoint: RedisEndpoint, tls: RedisTLS?, requireMaster: Bool = false, on eventLoop: any EventLoop,
                        timeout: TimeAmount, onPush: (@Sendable (RedisValue) -> Void)? = nil) -> EventLoopFuture<RedisConnection> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(max(timeout, .milliseconds(200)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try tls.handler(host: endpoint.host)) }
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
                // One answer before the connection counts: a TLS handshake that fails (wrong
                // CA, a client certificate required) fails here, not on the first request.
                hello.append(["PING"])
                if requireMaster { hello.append(["ROLE"]) }
                return connection.send(hello, timeout: max(timeout, .milliseconds(500))).flatMapThrowing { replies in
                    if let error = replies.first(where: \.isError), case .error(let message) = error {
                        channel.close(promise: nil)
                        throw RedisFailure.replyError(message)
                    }
                    if requireMaster {
                        guard let role = replies.last?.array, role.first?.text == "master" else {
                            channel.close(promise: nil)
                            throw RedisFailure.unavailable("\(endpoint.host):\(endpoint.port) is not a master")
                        }
                        connection.replicas.store(role.count > 2 ? role[2].array?.count ?? 0 : 0, ordering: .relaxed)
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
        let batch = RedisBatch(payload: payload, count: commands.count, deadline: channel.eventLoop.now + timeout, promise: promise)
        guard channel.eventLoop.inEventLoop else {
            channel.writeAndFlush(batch).whenFailure { _ in promise.fail(RedisFailure.connectionLost) }
            return promise.futureResult
        }
        // On the loop, an active channel hands the batch to its `RedisChannelHandler` now
        // (the last handler, the first a write meets), which answers it from then on: its
        // replies, the connection's loss, or its deadline. So the write needs no future of
        // its own, which cost an allocation and two generic metadata lookups a Redis hit.
        guard channel.isActive else {
            promise.fail(RedisFailure.connectionLost)
            return promise.futureResult
        }
        // Every command issued during this pass of the loop (all the requests it is
        // handling) leaves in one write: one syscall here, one read in Redis.
        channel.write(batch, promise: nil)
        if !pass.value.flushQueued {
            pass.value.flushQueued = true
            channel.eventLoop.execute { [self] in
                pass.value = PassState()   // from here on, nothing of this pass is shared
                channel.flush()
            }
        }
        return promise.futureResult
    }

    /// `command` (a read of small keys), shared with every other caller in this loop pass
    /// that asks the same (same `key`) and whose copy has not been flushed yet. Off the
    /// loop, a plain send.
    func probe(_ command: [RedisArgument], sharing key: Int, timeout: TimeAmount) -> EventLoopFuture<[RedisValue]> {
        guard channel.eventLoop.inEventLoop else { return send([command], timeout: timeout) }
        if let shared = pass.value.unflushedProbe, shared.key == key { return shared.future }
        let future = send([command], timeout: timeout)
        pass.value.unflushedProbe = (key, future)
        return future
    }

    var isActive: Bool { channel.isActive }

    func close() { channel.close(promise: nil) }
}
