import NIOCore

/// Where a batch's outcome goes, exactly once, on its connection's loop: its replies, or
/// why there are none.
typealias RedisReply = @Sendable (Result<[RedisValue], any Error>) -> Void

/// A caller of a shared read (`RedisConnection.probe`), told its outcome once, on its
/// loop. An object rather than a `RedisReply`: a closure kept in a probe's list of
/// callers took a reabstraction thunk, an allocation per caller, and a strict hit's
/// check and an L2 read are each one object that is its own target
/// (`RedisStore.StrictCheck`, `RedisStore.EntryRead`).
protocol RedisReplyTarget: AnyObject, Sendable {
    func redisAnswered(_ outcome: Result<[RedisValue], any Error>)
}

/// A `RedisReply` as a target, for the callers that are closures.
final class RedisReplyClosure: RedisReplyTarget {
    let reply: RedisReply
    init(_ reply: @escaping RedisReply) { self.reply = reply }
    func redisAnswered(_ outcome: Result<[RedisValue], any Error>) { reply(outcome) }
}

/// Commands written together with one flush, answered together.
struct RedisBatch: Sendable {
    let payload: ByteBuffer
    let count: Int
    let deadline: NIODeadline
    let reply: RedisReply
    /// What its commands' replies must look like (`fits`).
    let shapes: ReplyShapes

    init(payload: ByteBuffer, count: Int, deadline: NIODeadline, shapes: ReplyShapes = .any, reply: @escaping RedisReply) {
        self.payload = payload
        self.count = count
        self.deadline = deadline
        self.shapes = shapes
        self.reply = reply
    }

    /// Per command, the elements its reply must have: an MGET's, one per key. Kept without
    /// an array for a batch of one MGET, a lookup's.
    enum ReplyShapes: Sendable {
        case any
        case one(Int)
        /// -1 for a command whose reply may be anything.
        case each([Int])

        init(_ commands: [[RedisArgument]]) {
            if commands.count == 1, Self.isMGET(commands[0]) {
                self = .one(commands[0].count - 1)
            } else if commands.contains(where: Self.isMGET) {
                self = .each(commands.map { Self.isMGET($0) ? $0.count - 1 : -1 })
            } else {
                self = .any
            }
        }

        private static func isMGET(_ command: [RedisArgument]) -> Bool {
            if case .text(let name) = command.first { return name == "MGET" }
            return false
        }
    }

    /// Whether `replies` have the shapes their commands give them: an MGET's an array of
    /// its keys' values (or an error, which is one reply too). A reply of another shape
    /// means the stream is out of step with the commands, as after a reply that claimed
    /// more elements than it had and took the next reply as its last: each batch after
    /// would get the one after its own, another key's entry (the hostile-Redis audit's).
    func fits(_ replies: [RedisValue]) -> Bool {
        switch shapes {
        case .any: true
        case .one(let length): Self.fits(replies[0], length)
        case .each(let lengths): zip(lengths, replies).allSatisfy { Self.fits($1, $0) }
        }
    }

    private static func fits(_ reply: RedisValue, _ length: Int) -> Bool {
        switch reply {
        case _ where length < 0, .error: true
        case .array(let values?): values.count == length && values.allSatisfy { if case .bulk = $0 { true } else { false } }
        default: false
        }
    }
}

enum RedisFailure: Error, Equatable, CustomStringConvertible {
    case timeout
    case connectionLost
    case unavailable(String)
    case protocolError(String)
    case replyError(String)

    var description: String {
        switch self {
        case .timeout: "redis command timed out"
        case .connectionLost: "redis connection lost"
        case .unavailable(let why): "redis unavailable: \(why)"
        case .protocolError(let why): "redis protocol error: \(why)"
        case .replyError(let message): "redis error: \(message)"
        }
    }
}

/// Pipelines batches on one connection and matches replies to them in order.
///
/// A batch that times out is failed at once but keeps its place in the queue: its
/// replies still arrive, in order, and are dropped. Giving up the slot would hand
/// them to the next batch.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisBatch
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        let batch: RedisBatch
        var answered = false
    }

    private let reader = RESPReader()
    /// Replies no command waits for: pub/sub messages on a subscribed connection.
    private let onPush: (@Sendable (RedisValue) -> Void)?
    private var waiting = CircularBuffer<Waiting>()
    /// Replies of the oldest batch so far (kept outside the buffer so appends do not copy it).
    private var replies: [RedisValue] = []
    private var timer: Scheduled<Void>?
    /// When `timer` fires.
    private var timerDeadline = NIODeadline.distantFuture
    private var context: ChannelHandlerContext?
    /// What closed the connection, when an error did: a TLS handshake's reason (a CA that
    /// does not sign the server's certificate, another name), which the greeting, failing
    /// with the connection, reports instead of "connection lost".
    private(set) var closedBy: (any Error)?
    /// Past this many abandoned slots the connection is closed rather than kept.
    private static let maxAbandoned = 4096

    init(onPush: (@Sendable (RedisValue) -> Void)? = nil) { self.onPush = onPush }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The context holds this handler, and this handler its context: the pair outlived
    /// every connection closed, some 2.4 KB each with the reader's buffers (a Redis
    /// whose connections are cut over and over grew the process without bound: the
    /// hostile-Redis audit's 47 to 78 MB).
    /// The context goes first: a caller that sends again from its failure finds none.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        failAll(.connectionLost)
    }

    /// A pub/sub message: `["message", channel, payload]`.
    private static func isMessage(_ value: RedisValue) -> Bool {
        guard case .array(let parts?) = value, parts.count == 3 else { return false }
        return parts[0].text == "message"
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        take(unwrapOutboundIn(data), context: context, promise: promise)
    }

    /// Takes `batch` from its connection on the loop, not through the pipeline: a write
    /// from the channel's tail boxed the batch in an `NIOAny` and cast it back, about
    /// 2 100 instructions of every Redis hit. Not flushed: the connection flushes once
    /// per loop pass.
    func enqueue(_ batch: RedisBatch) {
        guard let context else { return batch.reply(.failure(RedisFailure.connectionLost)) }
        take(batch, context: context, promise: nil)
    }

    private func take(_ batch: RedisBatch, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        waiting.append(Waiting(batch: batch))
        context.write(wrapOutboundOut(batch.payload), promise: promise)
        // A batch due sooner than the one the timer waits for (a shorter timeout than the
        // greeting's, a subscription's PING after its SUBSCRIBE) moves the timer up: it
        // was armed once, for the greeting's 10 s, and a PING to a frozen server waited
        // all of it.
        if timer == nil || batch.deadline < timerDeadline { armTimer(at: batch.deadline) }
        if waiting.count > Self.maxAbandoned { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reader.feed(unwrapInboundIn(data))
        do {
            while let value = try reader.next() {
                // On a subscribed connection a message may come before the reply to a
                // command sent there (the subscription's PING): it is a message all the same.
                guard !waiting.isEmpty, onPush == nil || !Self.isMessage(value) else {
                    guard let onPush else { throw RESPReader.Failure.protocolError("reply without a command") }
                    onPush(value)
                    continue
                }
                // A master demoted to replica (a failover the connection survived): this
                // connection is no use any more; closing it makes the link find the master
                // again. Every batch still waiting fails with the connection (at once, or when
                // the close completes), so nothing more is read here: the close may already
                // have emptied `waiting`.
                if case .error(let message) = value, message.hasPrefix("READONLY") {
                    context.close(promise: nil)
                    return
                }
                replies.append(value)
                if replies.count == waiting.first!.batch.count {
                    // Out of step: no later reply here is its batch's; the connection goes.
                    guard waiting.first!.batch.fits(replies) else { throw RESPReader.Failure.protocolError("a reply does not fit its command") }
                    let done = waiting.removeFirst()
                    let answer = replies
                    replies = []
                    if !done.answered { done.batch.reply(.success(answer)) }
                }
            }
        } catch {
            failAll(.protocolError("\(error)"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionLost)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closedBy == nil { closedBy = error }
        failAll(.connectionLost)
        context.close(promise: nil)
    }

    private func failAll(_ failure: RedisFailure) {
        timer?.cancel()
        timer = nil
        while let w = waiting.popFirst() {
            if !w.answered { w.batch.reply(.failure(failure)) }
        }
        replies = []
    }

    /// One lazy timer: it fires at the earliest deadline it knows of, fails what has
    /// expired, and re-arms for the earliest remaining. Answered batches never touch it,
    /// so the hit path schedules nothing. "Expired" is judged by the loop's clock, the
    /// one the timer fired on (on an `EmbeddedEventLoop` that is the test's clock).
    ///
    /// The failures are delivered after the scan: a caller may send again from inside
    /// its failure (a lookup that failed takes a lease at once), which appends to
    /// `waiting`; inside the scan that moved the buffer under its indices, and the
    /// process died on CircularBuffer's index check.
    private func armTimer(at deadline: NIODeadline) {
        guard let context else { return }
        let loop = context.eventLoop
        timer?.cancel()
        timerDeadline = deadline
        timer = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            let now = loop.now
            var expired: [RedisBatch] = []
            for i in waiting.indices where !waiting[i].answered && waiting[i].batch.deadline <= now {
                waiting[i].answered = true
                expired.append(waiting[i].batch)
            }
            for batch in expired { batch.reply(.failure(RedisFailure.timeout)) }
            // Batches sent from those failures may have armed a timer for their own
            // (later) deadline: the earliest of all that still wait decides.
            timer?.cancel()
            timer = nil
            if let next = waiting.lazy.filter({ !$0.answered }).map(\.batch.deadline).min() { armTimer(at: next) }
        }
    }
}
