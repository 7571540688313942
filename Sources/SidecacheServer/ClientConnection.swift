import NIOCore
import NIOHTTP1

/// The client side of one exchange: its connection, used only on its event loop.
protocol ClientConnection: AnyObject {
    var allocator: ByteBufferAllocator { get }
    var eventLoop: any EventLoop { get }
    /// The client's address, for X-Forwarded-For.
    var remoteAddress: String? { get }
    /// Whether this response must end the connection (client asked, HTTP/1.0 without
    /// keep-alive, or the proxy is draining).
    var closesAfterResponse: Bool { get }
    /// The proxy is shutting down (SIGTERM's drain).
    var isDraining: Bool { get }
    func write(_ buffer: ByteBuffer)
    /// Writes and flushes; `written` runs once the bytes left (or failed to).
    func writeAndFlush(_ buffer: ByteBuffer, written: (@Sendable () -> Void)?)
    /// Runs `body` with flushes held: what it writes leaves in one flush at its end (one
    /// `writev`), so an answer whose head, body and end arrived together is not cut into
    /// a segment per part. Calls may nest; the outermost one flushes.
    func corked(_ body: () -> Void)
    /// The response is complete; `close` ends the connection after it.
    func responseFinished(close: Bool)
}
