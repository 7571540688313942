import NIOCore
import NIOPosix
import Synchronization

/// An origin for what `ScriptedOrigin` cannot script: each request head (up to its
/// blank line) is answered with whatever bytes a closure returns, framed or not, then
/// the connection stays open (a stalled or keep-alive answer) or is closed (a
/// truncated one). Used to play a sloppy or hostile upstream.
public final class RawOrigin: Sendable {
    public typealias Answer = (bytes: [UInt8], close: Bool)
    /// An answer, then `late` bytes written 20 ms after it on the same connection: an
    /// upstream that writes past the end of its answer, a moment later. With
    /// `lateAfterNextRequest`, they are written when the next request head arrives there,
    /// just before its answer: the moment a late write lands after the proxy reused the
    /// connection.
    public typealias LateAnswer = (bytes: [UInt8], late: [UInt8], close: Bool)

    public let port: Int
    private let listener: any Channel
    private let received = Mutex<[String]>([])
    private let lateWrites = Atomic<Int>(0)

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The request heads received so far, oldest first.
    public var requests: [String] { received.withLock { $0 } }

    /// Late writes finished so far: flushed, or failed on a connection the proxy closed.
    public var lateWritten: Int { lateWrites.load(ordering: .relaxed) }

    private init(port: Int, listener: any Channel) {
        self.port = port
        self.listener = listener
    }

    /// Every request gets `answer`; the connection is closed after it when `thenClose`.
    public static func start(answer: String, thenClose: Bool) async throws -> RawOrigin {
        let bytes = Array(answer.utf8)
        return try await start { _ in (bytes, thenClose) }
    }

    /// Each request head (text up to and including its blank line) gets what `answer` returns.
    public static func start(answer: @escaping @Sendable (String) -> Answer) async throws -> RawOrigin {
        try await start(lateAnswer: { head in
            let (bytes, close) = answer(head)
            return (bytes, [], close)
        })
    }

    /// Each request head gets what `lateAnswer` returns, its late bytes after a moment.
    public static func start(lateAfterNextRequest: Bool = false,
                             lateAnswer answer: @escaping @Sendable (String) -> LateAnswer) async throws -> RawOrigin {
        let box = Mutex<RawOrigin?>(nil)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = RawAnswer(lateAfterNextRequest: lateAfterNextRequest, answer: { head in
                        box.withLock { $0 }?.received.withLock { $0.append(head) }
                        return answer(head)
                    }, lateWritten: { box.withLock { $0 }?.lateWrites.add(1, ordering: .relaxed) })
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let origin = RawOrigin(port: listener.localAddress!.port!, listener: listener)
        box.withLock { $0 = origin }
        return origin
    }

    public func shutdown() async {
        try? await listener.close()
    }
}

/// Answers each request head once its blank line has arrived (bodies are not expected).
private final class RawAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let answer: @Sendable (String) -> RawOrigin.LateAnswer
    private let lateWritten: @Sendable () -> Void
    private let lateAfterNextRequest: Bool
    private var received: [UInt8] = []
    /// Late bytes held for the next request head (`lateAfterNextRequest`).
    private var heldLate: [UInt8] = []

    init(lateAfterNextRequest: Bool, answer: @escaping @Sendable (String) -> RawOrigin.LateAnswer,
         lateWritten: @escaping @Sendable () -> Void) {
        self.lateAfterNextRequest = lateAfterNextRequest
        self.answer = answer
        self.lateWritten = lateWritten
    }

    private func writeLate(_ late: [UInt8], context: ChannelHandlerContext) {
        let done = lateWritten
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: late))).assumeIsolated().whenComplete { _ in done() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(contentsOf: unwrapInboundIn(data).readableBytesView)
        while let end = headEnd() {
            let head = String(decoding: received[..<end], as: UTF8.self)
            received.removeFirst(end)
            let (bytes, late, close) = answer(head)
            if !heldLate.isEmpty {
                writeLate(heldLate, context: context)
                heldLate = []
            }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes))).assumeIsolated().whenComplete { _ in
                if close { context.close(promise: nil) }
            }
            if lateAfterNextRequest {
                heldLate = late
            } else if !late.isEmpty {
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(20)) { self.writeLate(late, context: context) }
            }
            if close { return }
        }
    }

    private func headEnd() -> Int? {
        guard received.count >= 4 else { return nil }
        for i in 0...(received.count - 4) where received[i] == 13 && received[i + 1] == 10 && received[i + 2] == 13 && received[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}
