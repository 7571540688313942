import NIOCore
import NIOHTTP1
import NIOPosix

/// A programmable upstream HTTP/1.1 server on 127.0.0.1 that counts what it receives.
///
/// Tests script routes with `on(_:_:_:)`, point the proxy at `baseURL`, and assert on
/// `count(_:path:)` / `requests`. Requests are logged before their responder runs, so a
/// responder that is holding its answer (awaiting a continuation or stream) is already
/// counted — that is how coalescing tests see "one upstream fetch in flight".
/// Unscripted requests get `404` with the body `no script`.
public final class ScriptedOrigin: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let state: OriginState
    private let listener: any Channel
    private let acceptLoop: Task<Void, Never>

    /// The port the origin listens on (127.0.0.1).
    public let port: Int

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(state: OriginState, listener: any Channel, port: Int, acceptLoop: Task<Void, Never>) {
        self.state = state
        self.listener = listener
        self.port = port
        self.acceptLoop = acceptLoop
    }

    /// Binds 127.0.0.1 on a port the kernel picks and starts serving.
    public static func start() async throws -> ScriptedOrigin {
        let encoder = verbatimEncoder
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withOutboundHeaderValidation: false,
                        withEncoderConfiguration: encoder
                    )
                    // Torn down on deinit, as `AdminServer` does and for the same reason:
                    // NIO traps on a connection accepted during the close that never reaches
                    // the accept loop (swift-nio #2813); it crashed a full test run.
                    return try Connection(synchronouslyWrapping: channel)
                }
            }
        guard let port = server.channel.localAddress?.port else {
            try? await server.channel.close()
            throw TestSupportError(.launchFailed, "origin bound 127.0.0.1:0 but got no local port")
        }
        let state = OriginState()
        let loop = Task { await state.acceptConnections(server) }
        return ScriptedOrigin(state: state, listener: server.channel, port: port, acceptLoop: loop)
    }

    /// Scripts' headers go out verbatim; `OriginResponse+Write` adds only missing framing.
    private static let verbatimEncoder: HTTPResponseEncoder.Configuration = {
        var configuration = HTTPResponseEncoder.Configuration()
        configuration.automaticallySetFramingHeaders = false
        return configuration
    }()

    /// Scripts a route. `method` nil answers any method; `path` is the exact path (no
    /// query), or ends with "*" to match a prefix. A "GET" script also answers HEAD (the
    /// origin then sends the head only). When several scripts match, an exact path beats a
    /// prefix, a longer prefix beats a shorter one, then the named method beats GET-for-HEAD
    /// beats nil, and a later registration beats an earlier one.
    public func on(
        _ method: String?,
        _ path: String,
        _ responder: @escaping @Sendable (OriginRequest) async -> OriginResponse
    ) {
        state.add(method: method, pattern: path, responder: responder)
    }

    /// Scripts a route that always answers `response`.
    public func on(_ method: String?, _ path: String, _ response: OriginResponse) {
        on(method, path) { _ in response }
    }

    /// Every request received since start (or the last `reset()`), in arrival order.
    public var requests: [OriginRequest] { state.requests }

    /// Received requests with exactly this path (query ignored) and, if given, this method.
    public func count(_ method: String? = nil, path: String) -> Int {
        state.requests.count { $0.path == path && (method == nil || $0.method == method) }
    }

    public var totalCount: Int { state.requests.count }

    /// TCP connections accepted since start (or the last `reset()`).
    public var connectionsAccepted: Int { state.connectionsAccepted }

    /// TCP connections open now (a proxy that released one closed it).
    public var openConnections: Int { state.openConnections }

    /// Stops accepting before the listener closes, and gives connections accepted just
    /// before a moment to become active and reach the accept loop: a connection accepted
    /// while the listener closes is dropped by NIO's async server channel without its
    /// writer being finished, which traps (swift-nio #2637, #3481).
    static func quiesce(_ listener: any Channel) async {
        try? await listener.setOption(ChannelOptions.autoRead, value: false).get()
        try? await Task.sleep(for: .milliseconds(50))
    }

    /// Clears the request log and counters; scripts stay.
    public func reset() { state.reset() }

    /// Stops listening, closes open connections and waits for in-flight responders.
    /// A responder that never returns and ignores cancellation will hang this.
    public func shutdown() async throws {
        let open = state.beginShutdown()
        await Self.quiesce(listener)
        try? await listener.close()
        for channel in open {
            try? await channel.close()
        }
        // Not cancelled: the accept loop ends once the closed listener has handed over
        // every connection it had accepted, and each is closed properly (see `serve`).
        await acceptLoop.value
    }
}
