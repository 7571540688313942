import NIOCore
import NIOHTTP1

/// One request handed to the pipeline together with the promise its response completes.
struct PendingExchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var response: EventLoopPromise<TestResponse>
}

/// Writes a `PendingExchange` as HTTP parts and assembles the response parts into a
/// `TestResponse`. One exchange at a time; the client enforces that.
final class TestHTTPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var pending: EventLoopPromise<TestResponse>?
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()
    private var interim: [TestResponse] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        pending = exchange.response
        head = nil
        body.clear()
        interim = []
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let bytes = exchange.body, bytes.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let next) where next.status.code < 200 && next.status.code != 101:
            interim.append(TestResponse(status: Int(next.status.code), headers: Self.pairs(next.headers)))
        case .head(let next):
            head = next
        case .body(var bytes):
            body.writeBuffer(&bytes)
        case .end:
            guard let head, let pending else { return }
            self.pending = nil
            self.head = nil
            pending.succeed(TestResponse(
                status: Int(head.status.code),
                headers: Self.pairs(head.headers),
                body: Array(body.readableBytesView),
                interim: interim
            ))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(TestSupportError(.connectionClosed, "server closed the connection before a complete response"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: any Error) {
        pending?.fail(error)
        pending = nil
    }

    private static func pairs(_ headers: HTTPHeaders) -> [(name: String, value: String)] {
        headers.map { (name: $0.name, value: $0.value) }
    }
}
