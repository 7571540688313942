import NIOCore
import NIOPosix

/// An origin for what `ScriptedOrigin` cannot script: it answers every request with
/// fixed bytes and then either stays silent with the connection open (a stalled
/// body) or closes it (a truncated body).
final class RawOrigin: Sendable {
    let port: Int
    private let listener: any Channel

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, listener: any Channel) {
        self.port = port
        self.listener = listener
    }

    static func start(answer: String, thenClose: Bool) async throws -> RawOrigin {
        let bytes = Array(answer.utf8)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawAnswer(bytes: bytes, thenClose: thenClose))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RawOrigin(port: listener.localAddress!.port!, listener: listener)
    }

    func shutdown() async {
        try? await listener.close()
    }
}

/// Answers once the request head (up to the blank line) has arrived.
private final class RawAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let bytes: [UInt8]
    private let thenClose: Bool
    private var received: [UInt8] = []
    private var answered = false

    init(bytes: [UInt8], thenClose: Bool) {
        self.bytes = bytes
        self.thenClose = thenClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(contentsOf: unwrapInboundIn(data).readableBytesView)
        guard !answered, received.count >= 4, received.suffix(4).elementsEqual("\r\n\r\n".utf8) else { return }
        answered = true
        let close = thenClose
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes))).assumeIsolated().whenComplete { _ in
            if close { context.close(promise: nil) }
        }
    }
}
