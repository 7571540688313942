import NIOCore

/// One request to forward upstream, already shaped by the proxy: the client sends
/// exactly these bytes' worth of method, path and headers, nothing curl adds itself.
public struct UpstreamRequest: Sendable {
    /// Sent as given ("GET", "POST", "PURGE"...).
    public var method: String
    /// Absolute URL. Its path is sent byte for byte (curl never normalises it).
    public var url: String
    /// Sent instead of the URL's path when set: `*` for `OPTIONS *` (RFC 9112 §3.2.4),
    /// which no URL can spell.
    public var requestTarget: String?
    /// Sent exactly as given, in order. The caller includes Host and never passes
    /// Content-Length or hop-by-hop headers. Lines with CR, LF or NUL are dropped.
    public var headers: [(name: String, value: String)]
    /// The whole request body, or nil for none.
    public var body: ByteBuffer?
    /// Longest wait from `execute` until the response head has arrived.
    public var headTimeout: TimeAmount
    /// Longest wait for the TCP (and TLS) connection.
    public var connectTimeout: TimeAmount
    /// Once the head has arrived: longest gap without a body byte, not counting time
    /// paused by backpressure. There is no total limit, so long streams never time out.
    public var idleBodyTimeout: TimeAmount

    public init(
        method: String,
        url: String,
        headers: [(name: String, value: String)],
        body: ByteBuffer?,
        headTimeout: TimeAmount,
        connectTimeout: TimeAmount,
        idleBodyTimeout: TimeAmount,
        requestTarget: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.headTimeout = headTimeout
        self.connectTimeout = connectTimeout
        self.idleBodyTimeout = idleBodyTimeout
        self.requestTarget = requestTarget
    }
}

extension UpstreamRequest {
    /// A body with bytes in it (an empty one only frames `Content-Length: 0`).
    var hasBody: Bool { (body?.readableBytes ?? 0) > 0 }

    /// Sent twice, it has the effect of sending it once (RFC 9110 §9.2.2), so curl may
    /// send it again when its kept-alive connection closed unanswered.
    var isIdempotent: Bool {
        switch method {
        case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE": true
        default: false
        }
    }
}
