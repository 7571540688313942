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
        /// A probe written this pass and not flushed yet: later requests of the same pass
        /// asking the very same share it (its answer is read after they arrived).
        var unflushedProbe: Probe?
    }

    /// One probe and the callers sharing it, each handed its one reply. Made, joined and
    /// answered on the connection's loop only (hence unchecked): callbacks, not a future,
    /// as on the hit path's `send` (a future's allocation and NIO's generic metadata
    /// lookups cost a strict L1 hit some 10 000 instructions). One object is the whole
    /// cost of a probe no one joins (a Redis-only lookup of a key no other request of its
    /// pass asks for): its `answer` is the batch's reply, with no closure context of its own.
    private final class Probe: @unchecked Sendable {
        let command: [RedisArgument]
        let first: any RedisReplyTarget
        var more: [any RedisReplyTarget] = []
        /// The pass it was written in, whose `unflushedProbe` it may still be (a cycle
        /// until that pass's flush or this answer, whichever comes first, ends it).
        let pass: NIOLoopBoundBox<PassState>
        /// Whose breaker counts each caller's outcome, as it counts a read of its own.
        let link: RedisLink

        init(command: [RedisArgument], first: any RedisReplyTarget, pass: NIOLoopBoundBox<PassState>, link: RedisLink) {
            self.command = command
            self.first = first
            self.pass = pass
            self.link = link
        }

        func answer(_ outcome: Result<[RedisValue], any Error>) {
            // Answered before its pass's flush ran (its deadline passed on a stalled loop):
            // no one may join it now, or wait for a reply already given.
            if pass.value.unflushedProbe === self { pass.value.unflushedProbe = nil }
            link.count(outcome)
            first.redisAnswered(outcome)
            for target in more {
                link.count(outcome)
                target.redisAnswered(outcome)
            }
        }
    }

    /// Touched on the channel's loop only.
    private let pass: NIOLoopBoundBox<PassState>
    /// The channel's last handler, which a batch sent on the loop is handed to directly.
    private let handler: NIOLoopBound<RedisChannelHandler>
    /// Replicas the master reported at connect (`ROLE`; Sentinel only), or when a purge
    /// last came short of them (`RedisLink.relearnReplicas`): a purge waits until that
    /// many have it, so a failover cannot lose it.
    let replicas = Atomic<Int>(0)

    /// The replicas a master's `ROLE` reply lists as connected (`master`, offset, then them).
    static func connectedReplicas(_ role: [RedisValue]) -> Int {
        role.count > 2 ? role[2].array?.count ?? 0 : 0
    }

    private init(channel: any Channel, handler: RedisChannelHandler) {
        self.channel = channel
        self.pass = NIOLoopBoundBox(PassState(), eventLoop: channel.eventLoop)
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    /// `requireMaster`: the server must say it is a master (`ROLE`), else the connection
    /// fails (an address a sentinel gave may be a demoted master by now).
    static func connect(to endpoint: RedisEndpoint, tls: RedisTLS?, requireMaster: Bool = false, on eventLoop: any EventLoop,
                        timeout: TimeAmount, onPush: (@Sendable (RedisValue) -> Void)? = nil) -> EventLoopFuture<RedisConnection> {
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(max(timeout, .milliseconds(200)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if onPush != nil {
            // A subscription only listens: a server gone without a FIN or RST (a host
            // frozen or cut off, a failover's old master) would never be noticed, and the
            // purges published meanwhile never heard. TCP keepalive notices it within
            // about 10 s; the subscription then connects again (and drops its L1 copies).
            bootstrap = bootstrap.channelOption(.socketOption(.so_keepalive), value: 1)
                .channelOption(.tcpOption(.init(rawValue: TCP_KEEPIDLE)), value: 4)
                .channelOption(.tcpOption(.init(rawValue: TCP_KEEPINTVL)), value: 2)
                .channelOption(.tcpOption(.init(rawValue: TCP_KEEPCNT)), value: 3)
        }
        return bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try tls.handler(host: endpoint.host)) }
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(onPush: onPush))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMapThrowing { channel in
                (channel, try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self))
            }
            .flatMap { channel, handler in
                let connection = RedisConnection(channel: channel, handler: handler)
                var hello: [[RedisArgument]] = []
                if let password = endpoint.password {
                    hello.append(endpoint.user.map { ["AUTH", .text($0), .text(password)] } ?? ["AUTH", .text(password)])
                }
                if endpoint.database != 0 { hello.append(["SELECT", .text(String(endpoint.database))]) }
                // One answer before the connection counts: a TLS handshake that fails (wrong
                // CA, a client certificate required) fails here, not on the first request.
                hello.append(["PING"])
                if requireMaster { hello.append(["ROLE"]) }
                let greeted = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                return connection.send(hello, timeout: max(timeout, .milliseconds(500))).flatMapThrowing { replies in
                    if let error = replies.first(where: \.isError), case .error(let message) = error {
                        throw RedisFailure.replyError(message)
                    }
                    if requireMaster {
                        guard let role = replies.last?.array, role.first?.text == "master" else {
                            throw RedisFailure.unavailable("\(endpoint.host):\(endpoint.port) is not a master")
                        }
                        connection.replicas.store(Self.connectedReplicas(role), ordering: .relaxed)
                    }
                    return connection
                }.flatMapErrorThrowing { error in
                    // Whatever failed the greeting (an error reply, not a master, no answer in
                    // time) leaves a connection nobody uses: closed here, or a paused Redis
                    // that answers later would keep every such attempt open for good.
                    channel.close(promise: nil)
                    if case RedisFailure.connectionLost = error, let reason = greeted.value.closedBy {
                        throw RedisFailure.unavailable("\(reason)")
                    }
                    throw error
                }
            }
    }

    /// Writes `commands` with one flush; the replies come back in order.
    func send(_ commands: [[RedisArgument]], timeout: TimeAmount) -> EventLoopFuture<[RedisValue]> {
        let promise = channel.eventLoop.makePromise(of: [RedisValue].self)
        send(commands, timeout: timeout) { promise.completeWith($0) }
        return promise.futureResult
    }

    /// `send`, its outcome given to `reply` on the channel's loop: the hit path's way, with
    /// no future (an allocation, and NIO's generic metadata lookups, a Redis hit).
    func send(_ commands: [[RedisArgument]], timeout: TimeAmount, reply: @escaping RedisReply) {
        var payload = channel.allocator.buffer(capacity: 64 * commands.count)
        for c in commands { payload.writeRedisCommand(c) }
        let deadline = channel.eventLoop.now + timeout
        guard channel.eventLoop.inEventLoop else {
            // Through the pipeline: a write that fails after the handler took the batch
            // is also failed by the handler, and the promise keeps the first outcome only.
            let promise = channel.eventLoop.makePromise(of: [RedisValue].self)
            promise.futureResult.whenComplete(reply)
            let batch = RedisBatch(payload: payload, count: commands.count, deadline: deadline,
                                   shapes: RedisBatch.ReplyShapes(commands)) { promise.completeWith($0) }
            channel.writeAndFlush(batch).whenFailure { _ in promise.fail(RedisFailure.connectionLost) }
            return
        }
        // On the loop, an active channel's `RedisChannelHandler` takes the batch now and
        // answers it from then on: its replies, the connection's loss, or its deadline.
        // So the write needs no future of its own.
        guard channel.isActive else { return reply(.failure(RedisFailure.connectionLost)) }
        // Every command issued during this pass of the loop (all the requests it is
        // handling) leaves in one write: one syscall here, one read in Redis.
        handler.value.enqueue(RedisBatch(payload: payload, count: commands.count, deadline: deadline,
                                         shapes: RedisBatch.ReplyShapes(commands), reply: reply))
        if !pass.value.flushQueued {
            pass.value.flushQueued = true
            channel.eventLoop.execute { [self] in
                pass.value = PassState()   // from here on, nothing of this pass is shared
                channel.flush()
            }
        }
    }

    /// `command` (a read), shared with every other caller in this loop pass that sends the
    /// very same command and whose copy has not been flushed yet; `link` counts each
    /// caller's outcome. On the channel's loop only. Two commands that differ are told
    /// apart at their first differing argument (a strict probe's stripe, a lookup's entry
    /// name), a few dozen bytes at most.
    func probe(_ command: [RedisArgument], timeout: TimeAmount, for target: any RedisReplyTarget, countedBy link: RedisLink) {
        if let shared = pass.value.unflushedProbe, shared.command == command {
            return shared.more.append(target)
        }
        let probe = Probe(command: command, first: target, pass: pass, link: link)
        pass.value.unflushedProbe = probe
        send([command], timeout: timeout, reply: probe.answer)
    }

    var isActive: Bool { channel.isActive }

    func close() { channel.close(promise: nil) }
}
