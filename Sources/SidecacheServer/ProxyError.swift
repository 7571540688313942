import NIOCore
import SidecacheCore

/// Answers the proxy itself gives, as JSON (`{"error":"…","detail":"…"}`), recording
/// who failed: the client (4xx) or the upstream (5xx).
enum ProxyError: Error, Sendable {
    case badRequest(String)
    case payloadTooLarge(limit: Int)
    case uriTooLong(limit: Int)
    case headersTooLarge(limit: Int)
    case upstreamUnavailable(String)
    case upstreamTimeout(String)
    /// `Cache-Control: only-if-cached` and nothing usable is stored.
    case onlyIfCached
    /// A refresh of this key is already under way.
    case refreshInProgress
    /// A request framed in a way the proxy does not do (a transfer coding but chunked).
    case notImplemented(String)
    /// The request bodies held in memory are at `limits.bodyMemory`.
    case overloaded(limit: Int)
    /// The client's `If-Match` or `If-Unmodified-Since` names another version than the
    /// one the cache would answer with.
    case preconditionFailed

    var status: Int {
        switch self {
        case .badRequest: 400
        case .payloadTooLarge: 413
        case .uriTooLong: 414
        case .headersTooLarge: 431
        case .upstreamUnavailable: 502
        case .upstreamTimeout: 504
        case .onlyIfCached: 504
        case .refreshInProgress: 409
        case .notImplemented: 501
        case .overloaded: 503
        case .preconditionFailed: 412
        }
    }

    var code: String {
        switch self {
        case .badRequest: "bad_request"
        case .payloadTooLarge: "payload_too_large"
        case .uriTooLong: "uri_too_long"
        case .headersTooLarge: "headers_too_large"
        case .upstreamUnavailable: "upstream_unavailable"
        case .upstreamTimeout: "upstream_timeout"
        case .onlyIfCached: "only_if_cached"
        case .refreshInProgress: "refresh_in_progress"
        case .notImplemented: "not_implemented"
        case .overloaded: "overloaded"
        case .preconditionFailed: "precondition_failed"
        }
    }

    var detail: String {
        switch self {
        case .badRequest(let d), .upstreamUnavailable(let d), .upstreamTimeout(let d), .notImplemented(let d): d
        case .payloadTooLarge(let limit): "request body over \(limit) bytes"
        case .uriTooLong(let limit): "request target over \(limit) bytes"
        case .headersTooLarge(let limit): "request head over \(limit) bytes"
        case .onlyIfCached: "only-if-cached and no stored answer may be used"
        case .refreshInProgress: "a fetch for this entry is already under way"
        case .overloaded(let limit): "request bodies held at once are at limits.bodyMemory (\(limit) bytes)"
        case .preconditionFailed: "If-Match or If-Unmodified-Since names another version than the stored one"
        }
    }

    /// The whole response: head and JSON body (not for a HEAD request, `headOnly`: its
    /// `Content-Length` still says what a GET would get, RFC 9110 §9.3.2, and a body after
    /// it would be read as the next answer on the connection). `close` says
    /// `Connection: close`; client errors always close (`closesConnection`). An
    /// HTTP/1.0 client kept alive (`http10`) hears `Connection: keep-alive`, or it takes
    /// the answer as the last (RFC 9112 §9.3) while the connection stays open.
    /// `now` dates it (RFC 9110 §6.6.1: the proxy is the origin of its own answers);
    /// `mark` says what the cache did, when the request got that far.
    func encode(allocator: ByteBufferAllocator, close: Bool, http10: Bool = false, headOnly: Bool = false, now: Timestamp,
                mark: CacheMark? = nil) -> ByteBuffer {
        var body = "{\"error\":\"\(code)\",\"detail\":"
        JSONText.quote(detail, into: &body)
        body += "}"
        var buffer = allocator.buffer(capacity: 256 + body.utf8.count)
        buffer.writeStatusLine(status: status, reason: "")
        buffer.writeHeader("Date", HTTPDate.format(now))
        buffer.writeHeader("Content-Type", "application/json")
        buffer.writeHeader("Content-Length", body.utf8.count)
        if close { buffer.writeHeader("Connection", "close") } else if http10 { buffer.writeHeader("Connection", "keep-alive") }
        if case .overloaded = self { buffer.writeHeader("Retry-After", "1") }
        mark?.write(into: &buffer)
        buffer.writeStaticString("\r\n")
        if !headOnly { buffer.writeString(body) }
        return buffer
    }

    /// Client errors end the connection: after a malformed or refused request the
    /// framing of anything that follows cannot be trusted. A failed precondition is an
    /// answer to a well-framed request.
    var closesConnection: Bool {
        if case .preconditionFailed = self { return false }
        return status < 500
    }
}
