import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SidecacheCore
import Synchronization

/// The admin listener: its own port (`admin.listen`), NIO's HTTP/1.1 server codec
/// (this is not the hit path), one task per connection, requests answered in order.
public final class AdminServer: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Admin bodies are small JSON documents.
    static let maxBody = 64 << 10

    /// What one peer may hold before its token is even read (it is checked once a request
    /// is whole): each connection a descriptor, a task and up to `maxBody` of buffer.
    public struct Limits: Sendable {
        /// From a request's head to its end (the main listener's `limits.headerTimeout`).
        public var requestTime: Duration
        /// Between requests, and before the first (`limits.idleTimeout`).
        public var idleTime: Duration
        /// Connections open at once. Past it a new connection takes the place of the one
        /// that has waited longest without a request under way (idle, or its head not yet
        /// whole), as nginx reuses idle connections; with none, it is closed. A cap that
        /// refused instead let 64 silent connections from anyone who can reach the port fail
        /// the kubelet's `/healthz` probes, and the pod was restarted.
        public var connections: Int

        public init(requestTime: Duration, idleTime: Duration, connections: Int = 64) {
            self.requestTime = requestTime
            self.idleTime = idleTime
            self.connections = connections
        }
    }

    private let api: AdminAPI
    /// Read as each connection comes, so that a reload's request and idle bounds apply to
    /// the admin listener's new connections as to the proxy's.
    private let limits: @Sendable () -> Limits
    private let logger: Logger
    /// An open connection, and since when it waits without a request under way (nil
    /// while one is: its head is whole and its answer not yet written).
    private struct Open {
        let channel: any Channel
        var waitingSince: NIODeadline?
    }

    private let state = Mutex<(listener: (any Channel)?, task: Task<Void, Never>?, open: [ObjectIdentifier: Open])>((nil, nil, [:]))
    private let sampler = Mutex<RepeatedTask?>(nil)

    public init(api: AdminAPI, limits: @escaping @Sendable () -> Limits, logger: Logger) {
        self.api = api
        self.limits = limits
        self.logger = logger
    }

    /// Binds and starts accepting; returns the bound port.
    public func start(host: String, port: Int, group: any EventLoopGroup) async throws -> Int {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    // Torn down on deinit (the older initializer): a connection accepted
                    // while the listener closes may never be handed to `accept`, and NIO
                    // traps on such a connection's writer unless it closes on deinit
                    // (swift-nio #2813). It crashed the process once; the served ones
                    // still end through `executeThenClose`.
                    return try Connection(synchronouslyWrapping: channel)
                }
            }
        let bound = server.channel.localAddress?.port ?? port
        let period = TimeAmount.seconds(AdminAPI.historyPeriod.components.seconds)
        let api = self.api
        sampler.withLock { $0 = server.channel.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: period) { _ in api.sampleHistory() } }
        let task = Task { await self.accept(server) }
        state.withLock { $0.listener = server.channel; $0.task = task }
        return bound
    }

    /// Stops accepting and closes open admin connections.
    public func stop() async {
        sampler.withLock { $0?.cancel(); $0 = nil }
        let (listener, task, open) = state.withLock { s in
            defer { s = (nil, nil, [:]) }
            return (s.listener, s.task, s.open.values.map(\.channel))
        }
        if let listener {
            // Accept nothing more, and let connections accepted a moment ago become active
            // and reach the accept loop before the listener closes: NIO's async server
            // channel drops one accepted during the close without finishing its writer,
            // which traps (swift-nio #2637, #3481).
            try? await listener.setOption(ChannelOptions.autoRead, value: false).get()
            try? await Task.sleep(for: .milliseconds(50))
            try? await listener.close()
        }
        for channel in open { try? await channel.close() }
        await task?.value
    }

    private func accept(_ server: NIOAsyncChannel<Connection, Never>) async {
        try? await server.executeThenClose { inbound in
            await withDiscardingTaskGroup { group in
                do {
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                } catch {
                    // The listener closed.
                }
            }
        }
    }

    /// Serves sequential requests on one keep-alive connection until either side closes,
    /// a request takes longer than `limits.requestTime` or the connection idles past
    /// `limits.idleTime`.
    private func serve(_ connection: Connection) async {
        let channel = connection.channel
        let id = ObjectIdentifier(channel)
        let limits = self.limits()
        guard admit(channel, limits: limits) else {
            try? await connection.executeThenClose { _, _ in }
            return
        }
        defer { _ = state.withLock { $0.open.removeValue(forKey: id) } }
        func waiting(_ yes: Bool) {
            state.withLock { $0.open[id]?.waitingSince = yes ? .now() : nil }
        }
        let remote = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
        func closing(after time: Duration) -> Scheduled<Void> {
            channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(time.components.seconds) * 1_000_000_000
                                                            + time.components.attoseconds / 1_000_000_000)) {
                channel.close(promise: nil)
            }
        }
        var deadline = closing(after: limits.idleTime)
        defer { deadline.cancel() }
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let next):
                    // Still evictable until the body is in: 64 connections that sent a
                    // head and a byte of their body held every place, and /readyz failed.
                    deadline.cancel()
                    deadline = closing(after: limits.requestTime)
                    (head, body, tooLarge) = (next, [], false)
                case .body(let chunk):
                    if body.count + chunk.readableBytes > Self.maxBody { tooLarge = true } else { body += chunk.readableBytesView }
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    waiting(false)
                    // The request is whole: answering it may take as long as it takes (a
                    // refresh waits on the upstream); the idle bound starts after it.
                    deadline.cancel()
                    let response = tooLarge
                        ? AdminResponse.error(.payloadTooLarge, "payload_too_large", "admin bodies are at most \(Self.maxBody) bytes")
                        : await api.handle(AdminRequest(head: request, body: body, remote: remote), on: channel.eventLoop)
                    let keepAlive = request.isKeepAlive && !tooLarge
                    // Written within the request bound, and the connection may make way
                    // meanwhile: a client that reads nothing stalls the write for good,
                    // and 64 such held every place.
                    waiting(true)
                    deadline = closing(after: limits.requestTime)
                    try await write(response, to: outbound, head: request, keepAlive: keepAlive)
                    if !keepAlive { return }
                    waiting(true)
                    deadline.cancel()
                    deadline = closing(after: limits.idleTime)
                }
            }
        }
    }

    /// Admits `channel` within `limits.connections`, closing the connection that has
    /// waited longest without a request under way when it must.
    private func admit(_ channel: any Channel, limits: Limits) -> Bool {
        let (admitted, evicted) = state.withLock { s -> (Bool, (any Channel)?) in
            var evicted: (any Channel)?
            if s.open.count >= limits.connections {
                let longest = s.open.compactMap { id, open in open.waitingSince.map { (id, $0) } }.min { $0.1 < $1.1 }
                guard let longest else { return (false, nil) }
                evicted = s.open.removeValue(forKey: longest.0)?.channel
            }
            s.open[ObjectIdentifier(channel)] = Open(channel: channel, waitingSince: .now())
            return (true, evicted)
        }
        evicted?.close(promise: nil)
        return admitted
    }

    private func write(_ response: AdminResponse, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
                       head request: HTTPRequestHead, keepAlive: Bool) async throws {
        var headers = HTTPHeaders(response.headers)
        headers.add(name: "Content-Length", value: String(response.body.readableBytes))
        // RFC 9110 §6.6.1: an origin with a clock dates its answers, as the proxy's own errors
        // are; a refreshed answer keeps the upstream's (one `Date` field only, §5.3).
        if !headers.contains(name: "Date") {
            headers.add(name: "Date", value: HTTPDate.format(Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))))
        }
        if !headers.contains(name: "Cache-Control") { headers.add(name: "Cache-Control", value: "no-store") }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers)))
        if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(response.body))) }
        try await outbound.write(.end(nil))
    }
}
