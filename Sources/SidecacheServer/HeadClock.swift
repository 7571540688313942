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

/// NIO's HTTP request decoder, driven by the handler in front of the connection's, and
/// noting the first byte of each request head as bytes reach it.
///
/// NIO's own driver (`ByteToMessageHandler`) is generic over its decoder and runs here
/// unspecialized: its decode loop, its buffer bookkeeping and two metadata look-ups
/// cost some 1 700 instructions of every request. This does for NIO's decoder what that
/// handler does:
/// - each read is decoded at once (parts go on to the connection's handler);
/// - bytes the decoder leaves (a header line cut between two reads, which it reads
///   whole from the buffer) are kept in front of the next read's, and so are bytes
///   that arrive while a read is being decoded;
/// - after a decoding error, later bytes are refused with
///   `ByteToMessageDecoderError.dataReceivedInErrorState`, as `ConnectionHandler` expects;
/// - the end of input (a half-close, or the connection's end) is decoded once, so a
///   request cut short is an error; when it comes while a read is being decoded (an
///   answer to a malformed request closes the connection from inside), after that read:
///   NIO's decoder cannot be re-entered.
final class TimedRequestDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPServerRequestPart

    private let decoder: HTTPRequestDecoder
    private let clock: HeadClock
    private var leftover: ByteBuffer?
    private var failure: (any Error)?
    private var decoding = false
    private var inputEnded = false
    /// The end of input came while a read was being decoded.
    private var endWaits = false

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

    func handlerAdded(context: ChannelHandlerContext) { decoder.decoderAdded(context: context) }
    func handlerRemoved(context: ChannelHandlerContext) { decoder.decoderRemoved(context: context) }

    /// Decodes the read, first noting when a head starts. Only notes it: the connection's
    /// own timer (which ticks at least every half header timeout) does the cutting off,
    /// so nothing is scheduled per request.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if let failure {
            context.fireErrorCaught(ByteToMessageDecoderError.dataReceivedInErrorState(failure, bytes))
            return
        }
        if decoding {
            leftover = Self.joined(leftover, bytes)
            return
        }
        guard !inputEnded else { return }
        if clock.betweenRequests && clock.headStarted == nil { clock.headStarted = context.eventLoop.now }
        var buffer = Self.joined(leftover.take(), bytes)
        decoding = true
        decode(context) { try decoder.decode(context: context, buffer: &buffer) }
        decoding = false
        if let arrivedMeanwhile = leftover {
            leftover = Self.joined(buffer, arrivedMeanwhile)
        } else if buffer.readableBytes > 0 {
            leftover = buffer
        }
        if endWaits {
            endWaits = false
            decodeEnd(context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inputEnds(context)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event as? ChannelEvent == .some(.inputClosed) { inputEnds(context) }
        context.fireUserInboundEventTriggered(event)
    }

    private func inputEnds(_ context: ChannelHandlerContext) {
        guard !inputEnded else { return }
        inputEnded = true
        if decoding { endWaits = true } else { decodeEnd(context) }
    }

    private func decodeEnd(_ context: ChannelHandlerContext) {
        guard failure == nil else { return }
        var buffer = leftover.take() ?? context.channel.allocator.buffer(capacity: 0)
        decode(context) { try decoder.decodeLast(context: context, buffer: &buffer, seenEOF: true) }
    }

    private func decode(_ context: ChannelHandlerContext, _ step: () throws -> DecodingState) {
        do {
            _ = try step()
        } catch {
            failure = error
            context.fireErrorCaught(error)
        }
    }

    private static func joined(_ first: ByteBuffer?, _ second: ByteBuffer) -> ByteBuffer {
        guard var first, first.readableBytes > 0 else { return second }
        var second = second
        first.writeBuffer(&second)
        return first
    }
}
