import NIOCore
import NIOPosix
import Synchronization

/// A sentinel that names whatever server the test says, for what a real one does only in
/// a race: a master address that is no master (a view not yet updated after a failover).
/// Speaks just enough RESP: `PING`, `SENTINEL get-master-addr-by-name`, `SUBSCRIBE`
/// (confirmed, never published to); anything else gets an error.
public final class FakeSentinel: Sendable {
    public let port: Int
    private let listener: any Channel
    private let asked = Atomic<Int>(0)

    /// `get-master-addr-by-name` questions answered so far.
    public var questions: Int { asked.load(ordering: .relaxed) }

    private init(port: Int, listener: any Channel) {
        self.port = port
        self.listener = listener
    }

    /// Names 127.0.0.1:`masterPort` as the master of every name asked.
    public static func start(naming masterPort: Int) async throws -> FakeSentinel {
        let box = Mutex<FakeSentinel?>(nil)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SentinelAnswers(masterPort: masterPort) {
                        box.withLock { $0 }?.asked.add(1, ordering: .relaxed)
                    })
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let sentinel = FakeSentinel(port: listener.localAddress!.port!, listener: listener)
        box.withLock { $0 = sentinel }
        return sentinel
    }

    public func stop() async {
        try? await listener.close()
    }
}

/// Reads RESP commands (arrays of bulk strings) as they complete and answers each.
private final class SentinelAnswers: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let masterPort: Int
    private let onQuestion: @Sendable () -> Void
    private var received = ByteBuffer()

    init(masterPort: Int, onQuestion: @escaping @Sendable () -> Void) {
        self.masterPort = masterPort
        self.onQuestion = onQuestion
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        var answers = ""
        while let command = nextCommand() {
            answers += answer(command.map { $0.lowercased() })
        }
        if !answers.isEmpty { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answers)), promise: nil) }
    }

    private func answer(_ words: [String]) -> String {
        switch words.first {
        case "ping":
            return "+PONG\r\n"
        case "sentinel" where words.count == 3 && words[1] == "get-master-addr-by-name":
            onQuestion()
            let port = String(masterPort)
            return "*2\r\n$9\r\n127.0.0.1\r\n$\(port.utf8.count)\r\n\(port)\r\n"
        case "subscribe" where words.count == 2:
            return "*3\r\n$9\r\nsubscribe\r\n$\(words[1].utf8.count)\r\n\(words[1])\r\n:1\r\n"
        default:
            return "-ERR not a command this fake sentinel knows\r\n"
        }
    }

    /// The next whole command, taken from `received`; nil until one has arrived.
    private func nextCommand() -> [String]? {
        var view = received
        guard let count = line(&view).flatMap({ $0.first == "*" ? Int($0.dropFirst()) : nil }) else { return nil }
        var words: [String] = []
        for _ in 0..<count {
            guard let length = line(&view).flatMap({ $0.first == "$" ? Int($0.dropFirst()) : nil }),
                  let word = view.readString(length: length), view.readString(length: 2) == "\r\n" else { return nil }
            words.append(word)
        }
        received = view
        return words
    }

    /// A line without its CRLF.
    private func line(_ view: inout ByteBuffer) -> String? {
        guard let end = view.readableBytesView.firstIndex(of: UInt8(ascii: "\n")), end > view.readerIndex else { return nil }
        defer { view.moveReaderIndex(forwardBy: 2) }
        return view.readString(length: end - view.readerIndex - 1)
    }
}
