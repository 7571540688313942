import NIOCore
import NIOPosix
import Synchronization

/// A plain TCP connection to 127.0.0.1 that sends exactly the bytes it is given, for
/// malformed-request, smuggling and pipelining tests. Received bytes accumulate until a
/// read takes them.
public final class RawConnection: Sendable {
    private let channel: any Channel
    private let inbox: RawInbox

    private init(channel: any Channel, inbox: RawInbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// `halfClosed`: the peer's end of stream (a FIN) counts as its close for the reads,
    /// and sending goes on, as a client with a blocking socket does that writes its whole
    /// request before it reads; otherwise the channel closes at the peer's FIN.
    public static func connect(port: Int, halfClosed: Bool = false) async throws -> RawConnection {
        let inbox = RawInbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: halfClosed)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawInboxHandler(inbox: inbox))
                    return channel
                }
            }
        return RawConnection(channel: channel, inbox: inbox)
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    public func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    /// Reads until the peer closes or `timeout` passes; returns (and consumes) everything
    /// not yet read, and whether the peer closed. The default is generous because it
    /// costs nothing when the peer closes: in a full `make test`, with a fleet of
    /// sidecar processes and a browser starting alongside, 10 s was once not enough.
    public func readUntilClose(timeout: Duration = .seconds(30)) async throws -> (bytes: [UInt8], closed: Bool) {
        _ = try await eventually(timeout: timeout) { [inbox] in inbox.closed }
        return inbox.take()
    }

    /// Reads until at least `count` complete final responses have arrived (1xx ones are
    /// attached to the response they precede), the peer closes, or `timeout` passes, and
    /// returns those parsed so far — possibly fewer than `count`; assert on the count.
    /// `methods` lists the methods of the requests being answered, in order, so answers to
    /// HEAD are read without a body; missing entries count as GET. Consumes the bytes of
    /// the returned responses and leaves the rest for later reads.
    public func readResponses(
        _ count: Int,
        methods: [String] = [],
        timeout: Duration = .seconds(10)
    ) async throws -> [TestResponse] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let (bytes, closed) = inbox.peek()
            var responses: [TestResponse] = []
            var used = 0
            parsing: while responses.count < count {
                let isHead = responses.count < methods.count && methods[responses.count] == "HEAD"
                switch try RawHTTPResponseParser.parse(bytes, from: used, isHead: isHead, peerClosed: closed) {
                case .response(let response, let end):
                    responses.append(response)
                    used = end
                case .incomplete:
                    break parsing
                }
            }
            if responses.count >= count || closed || clock.now >= deadline {
                inbox.drop(used)
                return responses
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Shuts this side's sending half (a FIN), as a client does that has said all it
    /// will say; reading goes on.
    public func shutdownOutput() async throws {
        try await channel.close(mode: .output)
    }

    /// What has arrived and not been read yet, left in place.
    public var received: [UInt8] { inbox.peek().bytes }

    /// Whether the peer has closed the connection.
    public var isClosed: Bool { inbox.closed }

    /// Closes with a reset (SO_LINGER 0), as a client that dies or gives up mid-request
    /// does: the proxy learns at once that nobody waits for the answer. (A plain close is
    /// a FIN, which a proxy that honours half-closed clients cannot tell apart from one.)
    public func reset() async throws {
        guard let socket = channel as? any SocketOptionProvider else {
            throw TestSupportError(.launchFailed, "the raw connection's channel sets no socket options")
        }
        try await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try await close()
    }

    public func close() async throws {
        guard channel.isActive else { return }
        do {
            try await channel.close()
        } catch ChannelError.alreadyClosed {
            // The peer got there first.
        }
    }
}

/// Bytes received on a `RawConnection`, shared between its handler and its readers.
final class RawInbox: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var closed = false
    }

    private let state = Mutex(State())

    var closed: Bool { state.withLock { $0.closed } }

    func append(_ buffer: ByteBuffer) {
        state.withLock { $0.bytes.append(contentsOf: buffer.readableBytesView) }
    }

    func markClosed() {
        state.withLock { $0.closed = true }
    }

    func peek() -> (bytes: [UInt8], closed: Bool) {
        state.withLock { ($0.bytes, $0.closed) }
    }

    func take() -> (bytes: [UInt8], closed: Bool) {
        state.withLock { state in
            defer { state.bytes = [] }
            return (state.bytes, state.closed)
        }
    }

    func drop(_ count: Int) {
        state.withLock { $0.bytes.removeFirst(count) }
    }
}

private final class RawInboxHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let inbox: RawInbox

    init(inbox: RawInbox) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.append(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.markClosed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { inbox.markClosed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset by the peer counts as closing; the inactive event follows.
        context.close(promise: nil)
    }
}
