import NIOCore

/// How the proxy closes a connection whose client may still be sending (RFC 9112 §9.6):
/// its sending side is shut once the answer has gone, so the client reads the answer and
/// then the end of the stream, and what the client still sends is read and dropped until
/// it closes too. Closed at once with the client's bytes unread, the kernel answers them
/// with a TCP reset, and a client that writes its whole request before reading (most
/// libraries do), say a body past `maxRequestBody`, gets "connection reset" instead of
/// the 413 written for it. The connection's timer (`ConnectionTimer`, phase `closing`)
/// cuts off a client that never closes.
final class LingeringClose: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// Starts the close on the connection of `context`, whose answer has been flushed.
    /// Where its output cannot be shut alone, or the client has closed already, it closes.
    static func begin(_ context: ChannelHandlerContext, inputClosed: Bool) {
        guard !inputClosed, (try? context.pipeline.syncOperations.addHandler(LingeringClose(), position: .first)) != nil else {
            return context.close(promise: nil)
        }
        let shut = context.eventLoop.makePromise(of: Void.self)
        shut.futureResult.assumeIsolated().whenFailure { [context] _ in context.close(promise: nil) }
        context.close(mode: .output, promise: shut)
        context.read()   // reading may have been held back (a queue at its bound)
    }

    /// Dropped: nothing after a refused request is read as a request.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    /// The client closed, or the proxy drains: nothing more is owed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if (event as? ChannelEvent) == .inputClosed || event is DrainEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
