import NIOCore
import NIOEmbedded
@testable import SidecacheStore
import Synchronization

/// A `RedisChannelHandler` on an `EmbeddedChannel`, as `RedisConnection` would use it,
/// with no Redis behind it: batches go in as the connection writes them, replies come
/// in as raw RESP bytes the test chooses, and time moves only when the test says.
/// Single-threaded, like the embedded loop it runs on.
final class EmbeddedRedis: @unchecked Sendable {   // used on its embedded loop only
    let channel: EmbeddedChannel
    var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

    init(onPush: (@Sendable (RedisValue) -> Void)? = nil) throws {
        channel = EmbeddedChannel(handler: RedisChannelHandler(onPush: onPush))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
    }

    /// Writes one batch of `commands` (each a single word, e.g. "PING"), due `timeout`
    /// from the loop's now; returns where its answer will show.
    /// `then` runs inside the answer, as a caller's that sends again at once.
    @discardableResult
    func send(_ commands: [String], timeout: TimeAmount = .seconds(1), then: (@Sendable () -> Void)? = nil) throws -> Answer {
        try send(commands: commands.map { [.text($0)] }, timeout: timeout, then: then)
    }

    /// `send` of whole commands, with their arguments.
    @discardableResult
    func send(commands: [[RedisArgument]], timeout: TimeAmount = .seconds(1), then: (@Sendable () -> Void)? = nil) throws -> Answer {
        var payload = channel.allocator.buffer(capacity: 64)
        for c in commands { payload.writeRedisCommand(c) }
        let answer = Answer()
        try channel.writeAndFlush(RedisBatch(payload: payload, count: commands.count, deadline: loop.now + timeout,
                                             shapes: RedisBatch.ReplyShapes(commands)) { result in
            answer.result.withLock { $0 = result }
            answer.calls.add(1, ordering: .relaxed)
            then?()
        }).wait()
        return answer
    }

    /// Delivers `resp` as one read from the socket.
    func reply(_ resp: String) throws {
        try channel.writeInbound(ByteBuffer(string: resp))
    }

    /// The bytes written to the socket so far, one buffer per batch.
    func written() throws -> [String] {
        var out: [String] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: b)) }
        return out
    }

    /// Closes the channel, which fails whatever still waits and cancels the timer.
    func finish() throws {
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// One batch's outcome: nil while it waits.
    final class Answer: Sendable {
        fileprivate let result = Mutex<Result<[RedisValue], any Error>?>(nil)
        /// How many times the batch was answered: once, whatever happens to it.
        let calls = Atomic<Int>(0)

        var pending: Bool { result.withLock { $0 == nil } }

        /// The replies, or nil while waiting or failed.
        var replies: [RedisValue]? { result.withLock { try? $0?.get() } }

        /// The failure, or nil while waiting or answered.
        var failure: RedisFailure? {
            result.withLock { r in
                guard case .failure(let e) = r else { return nil }
                return e as? RedisFailure
            }
        }
    }
}
