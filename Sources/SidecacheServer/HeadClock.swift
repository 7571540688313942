import NIOCore

/// When the bytes of a request head started arriving, so a client that trickles a
/// head (slowloris) is cut off after `limits.headerTimeout`. Shared by the byte
/// watcher in front of the decoder and the connection handler behind it; both run on
/// the channel's loop.
final class HeadClock {
    /// No request in progress: the next bytes start a head.
    var betweenRequests = true
    /// First byte of the head being received, if one is.
    var headStarted: NIODeadline?
}

/// Sits in front of the HTTP decoder and notes the first byte of each request head.
final class HeadStartWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let clock: HeadClock

    init(clock: HeadClock) { self.clock = clock }

    /// Only notes the time: the connection's own timer (which ticks at least every half
    /// header timeout) does the cutting off, so nothing is scheduled per request.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if clock.betweenRequests && clock.headStarted == nil { clock.headStarted = context.eventLoop.now }
        context.fireChannelRead(data)
    }
}
