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
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
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
                    return channel
                }
            }
        return TestHTTPClient(channel: channel, authority: "\(host):\(port)")
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
        let claimed = busy.withLock { busy in
            defer { busy = true }
            return !busy
        }
        guard claimed else {
            throw TestSupportError(.requestInFlight, "\(method) \(uri): this client already has a request in flight")
        }
        defer { busy.withLock { $0 = false } }

        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: uri)
        head.headers = HTTPHeaders(headers.map { ($0.name, $0.value) })
        if !headers.contains("Host") {
            head.headers.add(name: "Host", value: authority)
        }
        if let body, !headers.contains("Content-Length"), !headers.contains("Transfer-Encoding") {
            head.headers.add(name: "Content-Length", value: String(body.count))
        }

        let channel = self.channel
        let response = channel.eventLoop.makePromise(of: TestResponse.self)
        let deadline = channel.eventLoop.scheduleTask(in: timeout.timeAmount) {
            response.fail(TestSupportError(.timeout, "\(method) \(uri): no complete response within \(timeout)"))
            channel.close(promise: nil)
        }
        response.futureResult.whenComplete { _ in deadline.cancel() }

        let exchange = PendingExchange(head: head, body: body.map { ByteBuffer(bytes: $0) }, response: response)
        channel.writeAndFlush(exchange).whenFailure { error in
            response.fail(error)
        }
        return try await response.futureResult.get()
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
        let client = try await connect(port: port)
        do {
            let response = try await client.send(method, uri, headers: headers, body: body, timeout: timeout)
            try await client.close()
            return response
        } catch {
            try? await client.close()
            throw error
        }
    }
}
