import NIOCore

/// The final (non-1xx) response head.
public struct UpstreamResponseHead: Sendable {
    public var status: Int
    /// May be empty ("HTTP/1.1 200").
    public var reason: String
    /// Header lines in order, names as received, values trimmed of surrounding
    /// whitespace. Lines containing NUL or not of the form `name: value` are dropped.
    public var headers: [(name: String, value: String)]

    public init(status: Int, reason: String, headers: [(name: String, value: String)]) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }
}

/// What a transfer reports, in order: any number of `.interim`, `.head`, any number of
/// `.body`, then exactly one terminal event (`.end` or `.failure`). A failure may come
/// before the head, or after it, in which case the body is truncated.
public enum UpstreamEvent: Sendable {
    /// A 1xx head (100 Continue, 103 Early Hints) before the final one.
    case interim(UpstreamResponseHead)
    case head(UpstreamResponseHead)
    /// Body bytes with chunked framing removed but content coding kept, so they can
    /// be passed on (or stored) exactly as the upstream encoded them.
    case body(ByteBuffer)
    case end
    case failure(UpstreamFailure)
}
