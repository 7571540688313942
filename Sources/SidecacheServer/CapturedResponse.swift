import NIOCore
import NIOHTTP1

/// The client side of an exchange the proxy runs for itself (background
/// revalidation, warming, admin refreshes): it keeps what the exchange writes, up to
/// `keptBytes`. An answer too large to store, or not storable, streams through here as
/// it would to a client, and nothing reads this one: kept whole, one refresh of a large
/// answer held it all in memory (DESIGN "Bounded memory"). Past the limit the bytes
/// are taken and dropped.
final class CapturedResponse: ClientConnection {
    static let keptBytes = 1 << 20

    let eventLoop: any EventLoop
    let allocator = ByteBufferAllocator()
    /// The address of the client whose request this one follows (a background
    /// revalidation's), forwarded as the upstream would have had it from the client.
    let remoteAddress: String?
    var closesAfterResponse: Bool { false }
    var isDraining: Bool { false }
    private var bytes: ByteBuffer
    private let promise: EventLoopPromise<ByteBuffer>
    /// Runs when the exchange has let go of it, however it ended: gives back a place
    /// counted for it (`ProxyEngine.revalidations`).
    private let whenGone: (@Sendable () -> Void)?

    init(loop: any EventLoop, for client: String? = nil, whenGone: (@Sendable () -> Void)? = nil) {
        self.eventLoop = loop
        self.remoteAddress = client
        self.bytes = ByteBufferAllocator().buffer(capacity: 0)
        self.promise = loop.makePromise()
        self.whenGone = whenGone
    }

    deinit { whenGone?() }

    /// The answer as written (head and body, at most `keptBytes` of it), once the
    /// exchange finishes.
    var response: EventLoopFuture<ByteBuffer> { promise.futureResult }

    func write(_ buffer: ByteBuffer) { keep(buffer) }

    func writeAndFlush(_ buffer: ByteBuffer, written: (@Sendable () -> Void)?) {
        keep(buffer)
        written?()
    }

    private func keep(_ buffer: ByteBuffer) {
        let room = Self.keptBytes - bytes.readableBytes
        guard room > 0 else { return }
        bytes.writeImmutableBuffer(buffer.getSlice(at: buffer.readerIndex, length: min(room, buffer.readableBytes)) ?? buffer)
    }

    func corked(_ body: () -> Void) { body() }

    func responseFinished(close: Bool) { promise.succeed(bytes) }
}

/// A refreshed answer, read back from the bytes the exchange wrote (HTTP/1.0 framing,
/// so the body is the rest of the bytes).
struct RefreshResult: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: ByteBuffer

    init(raw: ByteBuffer) {
        var raw = raw
        let text = raw.readableBytesView
        let end = text.firstRange(of: Array("\r\n\r\n".utf8))
        let headEnd = end?.lowerBound ?? text.endIndex
        let head = String(decoding: text[text.startIndex..<headEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingSpaces())
        }
        raw.moveReaderIndex(to: end?.upperBound ?? raw.writerIndex)
        body = raw.slice()
    }
}
