import NIOCore
import NIOEmbedded
@testable import SidecacheStore
import Synchronization
import Testing

/// Matching replies to pipelined batches, on an embedded channel fed raw RESP bytes.
/// One misplaced reply would hand a caller another caller's value (another key's
/// entry), so order, late replies and timeouts are the point here.
@Suite("Redis channel handler: replies matched to batches in order")
struct RedisChannelHandlerTests {
    static func bulk(_ text: String) -> RedisValue { .bulk(ByteBuffer(string: text)) }

    @Test func repliesGoToTheBatchesOfAPipelineInOrder() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let a = try redis.send(["A1", "A2"])
        let b = try redis.send(["B1"])
        let c = try redis.send(["C1", "C2", "C3"])
        #expect(try redis.written() == ["*1\r\n$2\r\nA1\r\n*1\r\n$2\r\nA2\r\n", "*1\r\n$2\r\nB1\r\n",
                                        "*1\r\n$2\r\nC1\r\n*1\r\n$2\r\nC2\r\n*1\r\n$2\r\nC3\r\n"])

        try redis.reply(":1\r\n:2\r\n+B\r\n$1\r\nx\r\n$-1\r\n*2\r\n*1\r\n:3\r\n-ERR no\r\n")
        #expect(a.replies == [.integer(1), .integer(2)])
        #expect(b.replies == [.status("B")])
        // Error, nil and nested replies are replies: the batch succeeds and its caller reads them.
        #expect(c.replies == [Self.bulk("x"), .bulk(nil), .array([.array([.integer(3)]), .error("ERR no")])])
    }

    /// Replies arriving in pieces, one byte per read: a batch is answered on the read that
    /// completes its last reply, not before, and the next batch's bytes stay the next batch's.
    /// A reply that claims more elements than it has takes the next reply as its last,
    /// and every batch after would get the reply of the one after it: another key's entry,
    /// served as a HIT (the hostile-Redis audit's, with a count one too high). An MGET's
    /// reply must hold one value per key; one that does not fails its batch and ends the
    /// connection, so no later reply goes to another batch.
    @Test func aReplyOutOfStepWithItsCommandEndsTheConnection() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let first = try redis.send(commands: [["MGET", "k1", "k2"]])
        let second = try redis.send(commands: [["MGET", "k3", "k4"]])
        let third = try redis.send(commands: [["MGET", "k5", "k6"]])
        try redis.reply("*3\r\n$2\r\nv1\r\n$2\r\nv2\r\n" + "*2\r\n$2\r\nv3\r\n$2\r\nv4\r\n" + "*2\r\n$2\r\nv5\r\n$2\r\nv6\r\n")
        for answer in [first, second, third] {
            guard case .protocolError? = answer.failure else {
                Issue.record("answered \(String(describing: answer.replies)), not failed")
                continue
            }
        }
        #expect(!redis.channel.isActive)
    }

    /// A connection's handler goes with it: it held its context, which holds it, and each
    /// connection a flapping Redis made kept some 2.4 KB (the hostile-Redis audit's).
    @Test func aClosedConnectionsHandlerIsFreed() throws {
        weak var gone: RedisChannelHandler?
        try {
            let handler = RedisChannelHandler()
            gone = handler
            let channel = EmbeddedChannel(handler: handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
            _ = try channel.finish(acceptAlreadyClosed: true)
        }()
        #expect(gone == nil)
    }

    /// What an MGET may be answered with: a value or nil per key, or an error.
    @Test func anMGETsRepliesThatFitGoThrough() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let values = try redis.send(commands: [["GET", "a"], ["MGET", "k1", "k2"]])
        let refused = try redis.send(commands: [["MGET", "k3"]])
        try redis.reply("$1\r\na\r\n*2\r\n$-1\r\n$1\r\nx\r\n-NOPERM no\r\n")
        #expect(values.replies == [Self.bulk("a"), .array([.bulk(nil), Self.bulk("x")])])
        #expect(refused.replies == [.error("NOPERM no")])
        #expect(redis.channel.isActive)
    }

    @Test func aBatchIsAnsweredWhenItsLastReplyIsWhole() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let a = try redis.send(["A1", "A2"])
        let b = try redis.send(["B1"])
        let forA = "*2\r\n$3\r\nfoo\r\n*1\r\n$-1\r\n" + "-ERR a2\r\n"
        let forB = "$6\r\nb\r\nend\r\n"
        for (i, byte) in (forA + forB).utf8.enumerated() {
            #expect(a.pending == (i < forA.utf8.count), "byte \(i)")
            #expect(b.pending, "byte \(i)")
            try redis.channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(a.replies == [.array([Self.bulk("foo"), .array([.bulk(nil)])]), .error("ERR a2")])
        #expect(b.replies == [Self.bulk("b\r\nend")])
    }

    /// The timed-out batch fails at once but keeps its reply slots: its replies, arriving
    /// late, are consumed and dropped; the batches behind it get their own.
    @Test func aTimedOutBatchKeepsItsReplySlots() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let late = try redis.send(["L1", "L2"], timeout: .seconds(1))
        let waiting = try redis.send(["W"], timeout: .seconds(10))
        redis.loop.advanceTime(by: .seconds(1))
        #expect(late.failure == .timeout)
        #expect(waiting.pending)
        let after = try redis.send(["N"], timeout: .seconds(10))   // written after the timeout

        try redis.reply("+late-1\r\n+late-2\r\n")
        #expect(waiting.pending, "the late replies went to the next batch")
        #expect(after.pending, "the late replies went to a later batch")
        #expect(late.failure == .timeout)

        try redis.reply("+mine\r\n")
        #expect(waiting.replies == [.status("mine")])
        #expect(after.pending)
        try redis.reply("+theirs\r\n")
        #expect(after.replies == [.status("theirs")])
        for answer in [late, waiting, after] { #expect(answer.calls.load(ordering: .relaxed) == 1, "answered once") }
    }

    /// Callers that send again from inside their timeout (a lookup that failed takes a
    /// lease at once) while the timer is failing the batches that expired: the sends
    /// appended to the queue the timer was walking, and the process died on an index
    /// check (three times in an audit's Redis kill/restart runs). Every batch is still
    /// answered once, the new ones by their own deadline.
    @Test func callersSendingFromTheirTimeoutDoNotDisturbTheTimer() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let followUps = Mutex<[EmbeddedRedis.Answer]>([])
        let expiring = try (0..<5).map { _ in
            try redis.send(["T"], timeout: .seconds(1)) {
                let next = try? redis.send(["F"], timeout: .seconds(2))
                followUps.withLock { $0 += next.map { [$0] } ?? [] }
            }
        }
        let later = try redis.send(["L"], timeout: .seconds(5))
        redis.loop.advanceTime(by: .seconds(1))
        for answer in expiring { #expect(answer.failure == .timeout && answer.calls.load(ordering: .relaxed) == 1) }
        let sent = followUps.withLock { $0 }
        #expect(sent.count == 5 && sent.allSatisfy(\.pending) && later.pending)
        redis.loop.advanceTime(by: .seconds(2))
        #expect(sent.allSatisfy { $0.failure == .timeout }, "the follow-ups' own deadline was kept")
        #expect(later.pending)
        redis.loop.advanceTime(by: .seconds(2))
        #expect(later.failure == .timeout)
    }

    /// One lazy timer: it fails only batches past their own deadline and re-arms for the
    /// next; a batch answered in time is never failed. (Deadlines are written in order here,
    /// as on a real connection, where every batch gets the link's one timeout: the timer
    /// learns of a later batch's deadline only when it fires.)
    @Test func theTimerFailsOnlyWhatHasExpired() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let first = try redis.send(["F"], timeout: .seconds(1))
        let answered = try redis.send(["A"], timeout: .seconds(2))
        let second = try redis.send(["S"], timeout: .seconds(3))
        redis.loop.advanceTime(by: .milliseconds(999))
        #expect(first.pending && answered.pending && second.pending)
        redis.loop.advanceTime(by: .milliseconds(1))
        #expect(first.failure == .timeout)
        #expect(answered.pending && second.pending)
        try redis.reply("+f\r\n+a\r\n")   // the first's late reply, then the answer in time
        #expect(answered.replies == [.status("a")])
        redis.loop.advanceTime(by: .milliseconds(1999))
        #expect(second.pending)
        redis.loop.advanceTime(by: .milliseconds(1))
        #expect(second.failure == .timeout)
        #expect(answered.replies == [.status("a")])
    }

    /// On a subscribed connection, replies no batch waits for are pub/sub messages.
    @Test func repliesWithoutABatchGoToThePushHandler() throws {
        let pushes = Mutex<[RedisValue]>([])
        let redis = try EmbeddedRedis(onPush: { value in pushes.withLock { $0.append(value) } })
        defer { try? redis.finish() }
        let message = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nab\r\n"
        try redis.reply(message)
        let ping = try redis.send(["PING"])
        try redis.reply("+PONG\r\n" + message)
        #expect(ping.replies == [.status("PONG")])
        let expected = RedisValue.array([Self.bulk("message"), Self.bulk("ch"), Self.bulk("ab")])
        #expect(pushes.withLock { $0 } == [expected, expected])
    }

    /// A batch due sooner than one sent before it times out at its own deadline: the
    /// timer, armed for the first (a greeting's 10 s), made a subscription's PING to a
    /// frozen server wait all of it.
    @Test func aShorterTimeoutSentLaterStillTimesOutOnTime() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let long = try redis.send(["HELLO"], timeout: .seconds(10))
        let short = try redis.send(["PING"], timeout: .milliseconds(500))
        redis.loop.advanceTime(by: .milliseconds(500))
        #expect(short.failure == .timeout)
        #expect(long.pending)
        redis.loop.advanceTime(by: .milliseconds(9500))
        #expect(long.failure == .timeout)
    }

    /// A message published while the subscription's PING waits for its PONG is still a
    /// message: taken for the PING's reply, a purge announcement was lost.
    @Test func aMessageBeforeThePongIsAMessage() throws {
        let pushes = Mutex<[RedisValue]>([])
        let redis = try EmbeddedRedis(onPush: { value in pushes.withLock { $0.append(value) } })
        defer { try? redis.finish() }
        let ping = try redis.send(["PING"])
        try redis.reply("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nab\r\n")
        #expect(ping.pending)
        try redis.reply("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        #expect(ping.replies == [.array([Self.bulk("pong"), Self.bulk("")])])
        #expect(pushes.withLock { $0 } == [.array([Self.bulk("message"), Self.bulk("ch"), Self.bulk("ab")])])
    }

    @Test func aReplyNobodyAskedForClosesTheConnection() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        try redis.reply("+OK\r\n")
        #expect(!redis.channel.isActive)
    }

    /// Bytes that are not RESP leave no way to tell which reply is whose: every batch fails.
    @Test func garbageFailsEveryBatchAndCloses() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let a = try redis.send(["A"])
        let b = try redis.send(["B"])
        try redis.reply("?not resp\r\n")
        #expect(a.failure?.description.hasPrefix("redis protocol error") == true)
        #expect(b.failure?.description.hasPrefix("redis protocol error") == true)
        #expect(!redis.channel.isActive)
    }

    @Test func aLostConnectionFailsWhatWaits() throws {
        let redis = try EmbeddedRedis()
        let timedOut = try redis.send(["T"], timeout: .milliseconds(10))
        let answered = try redis.send(["A"])
        let waiting = try redis.send(["W"])
        redis.loop.advanceTime(by: .milliseconds(10))
        try redis.reply("+t\r\n+a\r\n")
        try redis.finish()
        #expect(answered.replies == [.status("a")])
        #expect(timedOut.failure == .timeout)
        #expect(waiting.failure == .connectionLost)
        for answer in [timedOut, answered, waiting] { #expect(answer.calls.load(ordering: .relaxed) == 1, "answered once") }
    }

    /// A master demoted under the connection answers `-READONLY`: the connection closes
    /// (the link then finds the master again) and every batch fails once, those behind it
    /// too, even when their replies came in the same read. The close empties the queue
    /// at once; reading on after it trapped on the empty queue and took the process down.
    @Test func aReadOnlyReplyClosesAndFailsWhatWaits() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        let a = try redis.send(["A1", "A2"])
        let b = try redis.send(["B"])
        try redis.reply("-READONLY You can't write against a read only replica.\r\n+a2\r\n+b\r\n")
        #expect(!redis.channel.isActive)
        #expect(a.failure == .connectionLost)
        #expect(b.failure == .connectionLost, "not answered with a reply read after the close")
        for answer in [a, b] { #expect(answer.calls.load(ordering: .relaxed) == 1, "answered once") }
    }

    /// Slots of timed-out batches are kept until their replies come; a server that
    /// never answers must not grow them without bound.
    @Test func tooManyAbandonedSlotsCloseTheConnection() throws {
        let redis = try EmbeddedRedis()
        defer { try? redis.finish() }
        for _ in 0..<4096 { try redis.send(["X"], timeout: .milliseconds(1)) }
        redis.loop.advanceTime(by: .milliseconds(1))
        #expect(redis.channel.isActive)
        _ = try redis.written()
        _ = try? redis.send(["X"])   // its write fails with the close
        #expect(!redis.channel.isActive)
    }
}
