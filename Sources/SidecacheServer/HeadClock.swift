import NIOCore
import NIOHTTP1
import SidecacheConfig

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

    private let decoder: HTTPRequestDecoder
    private let clock: HeadClock

    /// NIO's own caps on a head (80 KiB) must not come before the proxy's: with
    /// `limits.headerBytes` or `urlBytes` raised past them, a head within both was refused
    /// as too large. `RequestHead.check` applies the configured limits exactly.
    init(clock: HeadClock, limits: Limits) {
        self.clock = clock
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        let largest = max(limits.headerBytes, limits.urlBytes)
        decoderLimits.maxHeaderFieldSize = max(decoderLimits.maxHeaderFieldSize, largest)
        decoderLimits.maxHeaderListSize = max(decoderLimits.maxHeaderListSize, largest)
        decoder = HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: decoderLimits)
    }

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
