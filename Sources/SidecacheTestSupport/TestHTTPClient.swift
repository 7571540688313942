import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP/1.1 client over one keep-alive TCP connection (NIO's client codec), for
/// driving the proxy as a client would. Requests on one client are sequential; open
/// several clients for concurrency. Header names and values are sent verbatim (no
/// validation), so tests can send what a hostile client would.
public final class TestHTTPClient: Sendable {
    private let channel: any Channel
    private let authority: String
    private let busy = Mutex(false)

    private init(channel: any Channel, authority: String) {
        self.channel = channel
        self.authority = authority
    }

    public static func connect(port: Int, host: String = "127.0.0.1") async throws -> TestHTTPClient {
        try await opening(port: port, host: host).get()
    }

    /// The connection as a future, so a one-shot request can be written from the event
    /// loop the moment it connects: a hop back to a busy test's task first can outlast a
    /// short `idleTimeout`, and the proxy then rightly closes the connection.
    private static func opening(port: Int, host: String) -> EventLoopFuture<TestHTTPClient> {
        ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Built by hand rather than `addHTTPClientHandlers` so that 1xx responses
                    // are forwarded (they land in `TestResponse.interim`). The decoder still
                    // watches outbound heads, so HEAD responses are read without a body.
                    let decoder = HTTPResponseDecoder(informationalResponseStrategy: .forward)
                    try channel.pipeline.syncOperations.addHandlers([
                        HTTPRequestEncoder(),
                        ByteToMessageHandler(decoder),
                        TestHTTPClientHandler(),
                    ])
                }
            }
            .connect(host: host, port: port)
            .map { TestHTTPClient(channel: $0, authority: "\(host):\(port)") }
    }

    /// Sends one request and waits for its complete response. Adds `Host` unless `headers`
    /// has one; sends `Content-Length` with a non-nil body unless `headers` frames it.
    /// On timeout the connection is closed and `TestSupportError.Kind.timeout` is thrown.
    public func send(
        _ method: String,
        _ uri: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> TestResponse {
        try await start(method, uri, headers: headers, body: body, timeout: timeout).get()
    }

    private func start(
        _ method: String,
        _ uri: String,
        headers: [(name: String, value: String)],
        body: [UInt8]?,
        timeout: Duration
    ) -> EventLoopFuture<TestResponse> {
        let channel = self.channel
        let claimed = busy.withLock { busy in
            defer { busy = true }
            return !busy
        }
        guard claimed else {
            return channel.eventLoop.makeFailedFuture(
                TestSupportError(.requestInFlight, "\(method) \(uri): this client already has a request in flight"))
        }

        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: uri)
        head.headers = HTTPHeaders(headers.map { ($0.name, $0.value) })
        if !headers.contains("Host") {
            head.headers.add(name: "Host", value: authority)
        }
        if let body, !headers.contains("Content-Length"), !headers.contains("Transfer-Encoding") {
            head.headers.add(name: "Content-Length", value: String(body.count))
        }

        let response = channel.eventLoop.makePromise(of: TestResponse.self)
        let deadline = channel.eventLoop.scheduleTask(in: timeout.timeAmount) {
            response.fail(TestSupportError(.timeout, "\(method) \(uri): no complete response within \(timeout)"))
            channel.close(promise: nil)
        }
        response.futureResult.whenComplete { _ in
            deadline.cancel()
            self.busy.withLock { $0 = false }
        }

        let exchange = PendingExchange(head: head, body: body.map { ByteBuffer(bytes: $0) }, response: response)
        channel.writeAndFlush(exchange).whenFailure { error in
            response.fail(error)
        }
        return response.futureResult
    }

    /// Whether the connection is closed (by the server, a timeout or `close()`).
    public var isClosed: Bool { !channel.isActive }

    public func close() async throws {
        guard channel.isActive else { return }
        do {
            try await channel.close()
        } catch ChannelError.alreadyClosed {
            // The server got there first.
        }
    }

    /// A fresh connection for one request, closed afterwards.
    public static func request(
        port: Int,
        _ method: String,
        _ uri: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> TestResponse {
        let answered = opening(port: port, host: "127.0.0.1").flatMap { client in
            let response = client.start(method, uri, headers: headers, body: body, timeout: timeout)
            response.whenComplete { _ in client.channel.close(promise: nil) }
            return client.channel.closeFuture.flatMap { response }
        }
        return try await answered.get()
    }
}
