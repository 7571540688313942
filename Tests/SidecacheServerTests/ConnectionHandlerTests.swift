import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import SidecacheConfig
import SidecacheCore
import SidecacheMetrics
@testable import SidecacheServer
import SidecacheStore
import SidecacheUpstream
import SidecacheTestSupport
import Testing

/// The listener's framing, limits, pipelining and timeouts on an `EmbeddedChannel`:
/// bytes in, bytes out, time moved by hand. Answers come from entries put in the cache
/// beforehand, so nothing here reaches an upstream.
@Suite("ConnectionHandler on an EmbeddedChannel")
struct ConnectionHandlerTests {
    /// One connection through the proxy's real pipeline, with its own engine.
    final class Connection {
        let channel = EmbeddedChannel()
        let engine: ProxyEngine
        let clock = ManualClock()

        init(limits: String = "") throws {
            let json = """
            { "upstream": "http://127.0.0.1:1", "limits": { \(limits) },
              "routes": [{ "name": "page", "match": "GET /p/{id}", "ttl": "5m" }] }
            """
            let config = try ConfigLoader.parse(Data(json.utf8), environment: [:])
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            engine = ProxyEngine(config: config, upstream: try UpstreamClient(), store: TieredStore(
                options: StoreOptions(memoryBytes: 1 << 20), loops: [], logger: logger), clock: clock, logger: logger,
                metrics: ProxyMetrics(for: config))
            let headClock = HeadClock()
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(TimedRequestDecoder(clock: headClock, limits: config.limits))
            try sync.addHandler(ConnectionHandler(engine: engine, connections: ConnectionRegistry(), headClock: headClock, channel: channel))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
        }

        deinit { engine.upstream.shutdown() }

        /// Stores `/p/<id>` (Host `a`) answering `body`, as a fill would have.
        func cache(_ id: String, body: String) throws {
            let route = try #require(engine.settings.config.routes.route(named: "page"))
            let target = try #require(RequestTarget("/p/\(id)"))
            let key = CacheKeyBuilder.key(route: route, host: "a", target: target, headers: HeaderList(), identity: nil)
            let now = clock.now()
            let timing = EntryTiming(birth: now, freshUntil: now + .seconds(300), staleWhileRevalidateUntil: now + .seconds(300),
                                     staleIfErrorUntil: now + .seconds(300), revalidateUntil: now + .seconds(300))
            let entry = CacheEntry(head: ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n"),
                                   body: ByteBuffer(string: body), status: 200, timing: timing, fillSeq: 0, scopeIDs: [])
            #expect(engine.store.memory.set(key, entry))
        }

        func send(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }

        /// Everything written to the client so far.
        func written() throws -> String {
            var out = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: buffer) }
            return out
        }

        var isOpen: Bool { channel.isActive }
    }

    @Test func aHitIsAnsweredFromTheCache() throws {
        let c = try Connection()
        try c.cache("1", body: "one")
        try c.send("GET /p/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        let out = try c.written()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(out.contains("X-Cache: HIT\r\n"))
        #expect(out.hasSuffix("\r\n\r\none"))
        #expect(c.isOpen)
    }

    /// Pipelined requests in one packet: answered in order, each once.
    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let c = try Connection()
        try c.cache("1", body: "one")
        try c.cache("2", body: "two")
        try c.send("GET /p/2 HTTP/1.1\r\nHost: a\r\n\r\nGET /p/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: a\r\n\r\n")
        let bodies = try c.written().components(separatedBy: "HTTP/1.1 200 OK").dropFirst().map { $0.components(separatedBy: "\r\n\r\n").last ?? "" }
        #expect(bodies == ["two", "one", "two"])
    }

    @Test(arguments: [
        ("GET /p/1 HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", "400"),
        ("GET /p/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
        ("GET /p/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        ("GET /p/" + String(repeating: "x", count: 1100) + " HTTP/1.1\r\nHost: a\r\n\r\n", "414"),
        ("GET /p/1 HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "y", count: 2100) + "\r\n\r\n", "431"),
        ("POST /p/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 20000000\r\n\r\n", "413"),   // over the 16 MiB default
    ])
    func badRequestsAreAnsweredAndTheConnectionCloses(request: String, status: String) throws {
        let c = try Connection(limits: #""urlBytes": "1KiB", "headerBytes": "2KiB""#)
        try? c.send(request)   // the decoder may also report the error itself
        let out = try c.written()
        #expect(out.hasPrefix("HTTP/1.1 \(status) "), "\(request.prefix(60).debugDescription) → \(out.prefix(40))")
        #expect(out.contains("Connection: close"))
        #expect(!c.isOpen)
    }

    @Test func anIdleConnectionClosesAtTheIdleTimeoutNotBefore() throws {
        let c = try Connection(limits: #""idleTimeout": "2s", "headerTimeout": "10s""#)
        try c.cache("1", body: "one")
        try c.send("GET /p/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try c.written().hasSuffix("one"))
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1900))
        #expect(c.isOpen)
        c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(!c.isOpen)
    }

    /// Slowloris: a head that never completes is cut within 1.5× the header timeout,
    /// though bytes keep arriving (so the connection is never idle).
    @Test func aTrickledHeadIsCutOff() throws {
        let c = try Connection(limits: #""idleTimeout": "60s", "headerTimeout": "2s""#)
        try c.send("GET /p/1 HTTP/1.1\r\n")
        for _ in 0..<2 {
            c.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
            try c.send("X: y\r\n")
        }
        #expect(c.isOpen)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!c.isOpen)
    }

    @Test func aDrainClosesAnIdleConnection() throws {
        let c = try Connection()
        c.channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        #expect(!c.isOpen)
    }
}
