import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import SidecacheConfig
@testable import SidecacheServer
import Testing

/// The listener's request decoder on its own: what it hands the connection's handler
/// for bytes as they arrive, cut anywhere, after an error and at the end of input.
@Suite("TimedRequestDecoder: NIO's decoder, driven in front of the connection")
struct TimedRequestDecoderTests {
    /// What reaches the handler behind the decoder. `closeOnHead` closes the channel from
    /// inside the first head's delivery, as an answer to a malformed request does.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        var parts: [String] = []
        var errors: [any Error] = []
        let closeOnHead: Bool

        init(closeOnHead: Bool = false) { self.closeOnHead = closeOnHead }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                parts.append("head \(head.method) \(head.uri) \(head.headers["host"].joined(separator: ","))")
                if closeOnHead { context.close(promise: nil) }
            case .body(let body):
                // A body cut across reads comes in pieces: recorded whole.
                if let last = parts.last, last.hasPrefix("body ") {
                    parts[parts.count - 1] = last + String(buffer: body)
                } else {
                    parts.append("body \(String(buffer: body))")
                }
            case .end:
                parts.append("end")
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }
    }

    /// The decoder in front of a `Recorder`, on a connected `EmbeddedChannel`.
    final class Decoding {
        let channel = EmbeddedChannel()
        let recorder: Recorder

        init(closeOnHead: Bool = false) throws {
            recorder = Recorder(closeOnHead: closeOnHead)
            try channel.pipeline.syncOperations.addHandler(TimedRequestDecoder(clock: HeadClock(), limits: Limits()))
            try channel.pipeline.syncOperations.addHandler(recorder)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
        }

        func send(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }
    }

    @Test func aRequestCutAnywhereIsDecodedWhole() throws {
        let request = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        for cut in [1, 5, 20, 22, 33, 46, 50, 60] {
            let t = try Decoding()
            let bytes = Array(request.utf8)
            try t.channel.writeInbound(ByteBuffer(bytes: bytes[..<cut]))
            try t.channel.writeInbound(ByteBuffer(bytes: bytes[cut...]))
            #expect(t.recorder.parts == ["head POST /a h", "body xyz", "end", "head GET /b h", "end"], "cut at \(cut)")
            #expect(t.recorder.errors.isEmpty, "cut at \(cut)")
        }
    }

    @Test func nothingAfterAMalformedRequestIsDecoded() throws {
        let t = try Decoding()
        try t.send("GET /a HTTP/1.1\r\nBad Header: x\r\n\r\n")
        try t.send("GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(t.recorder.parts.isEmpty)
        #expect(t.recorder.errors.count == 2)
        #expect(t.recorder.errors.first is HTTPParserError)
        guard case ByteToMessageDecoderError.dataReceivedInErrorState(let first, let refused)? = t.recorder.errors.last else {
            Issue.record("later bytes reported as \(t.recorder.errors.last.map { "\($0)" } ?? "nothing")")
            return
        }
        #expect(first is HTTPParserError)
        #expect(String(buffer: refused) == "GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
    }

    @Test func theEndOfInputInsideARequestIsAnError() throws {
        let t = try Decoding()
        try t.send("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        t.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(t.recorder.parts == ["head POST /a h", "body abc"])
        #expect(t.recorder.errors.count == 1)
        #expect(t.recorder.errors.first is HTTPParserError)
        _ = try? t.channel.finish()   // the connection's end decodes nothing twice
        #expect(t.recorder.errors.count == 1)
    }

    @Test func theEndOfInputBetweenRequestsIsNoError() throws {
        let t = try Decoding()
        try t.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        t.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        _ = try? t.channel.finish()
        #expect(t.recorder.parts == ["head GET /a h", "end"])
        #expect(t.recorder.errors.isEmpty)
    }

    /// The connection closes from inside a read's delivery: the end of input is decoded
    /// once that read is, never inside it (NIO's decoder cannot be re-entered).
    @Test func aCloseFromInsideADeliveryEndsTheInputAfterIt() throws {
        let t = try Decoding(closeOnHead: true)
        try t.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT")
        #expect(t.recorder.parts == ["head GET /a h", "end"])
        #expect(t.recorder.errors.count == 1)   // the input ended inside /b's head
        #expect(t.recorder.errors.first is HTTPParserError)
        #expect(!t.channel.isActive)
    }
}
