import NIOCore
import NIOHTTP1

/// When the bytes of a request head started arriving, so a client that trickles a
/// head (slowloris) is cut off after `limits.headerTimeout`. Shared by the decoder
/// and the connection handler behind it; both run on the channel's loop.
final class HeadClock {
    /// No request in progress: the next bytes start a head.
    var betweenRequests = true
    /// First byte of the head being received, if one is.
    var headStarted: NIODeadline?
}

/// NIO's HTTP request decoder, noting the first byte of each request head as bytes
/// reach it. A decoder rather than a handler of its own in front: a handler costs every
/// read a pipeline hop.
struct TimedRequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    private let decoder = HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)
    private let clock: HeadClock

    init(clock: HeadClock) { self.clock = clock }

    /// Only notes the time: the connection's own timer (which ticks at least every half
    /// header timeout) does the cutting off, so nothing is scheduled per request.
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if clock.betweenRequests && clock.headStarted == nil { clock.headStarted = context.eventLoop.now }
        return try decoder.decode(context: context, buffer: &buffer)
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decoder.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    mutating func decoderAdded(context: ChannelHandlerContext) { decoder.decoderAdded(context: context) }
    mutating func decoderRemoved(context: ChannelHandlerContext) { decoder.decoderRemoved(context: context) }
}
