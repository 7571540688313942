import NIOHTTP1
import SidecacheConfig
import SidecacheCore

/// The checks a request head passes before anything else reads it: limits, forbidden
/// bytes and the fields that must be unambiguous, in one pass over the fields; then the
/// `Connection` options and fields named with `_` (`isRequestFieldName`) are removed,
/// so the key, the classification and the upstream all see the same request (RFC 9110
/// §7.6.1).
enum RequestHead {
    /// What the pass learns of the body's framing (the first `Content-Length` and
    /// `Expect`, whether there is a `Transfer-Encoding`), so that no other pass over the
    /// fields looks for them again.
    struct Framing {
        var contentLength: String?
        var transferEncoding = false
        var expect: String?
        /// `Connection: upgrade` with an `Upgrade` field: the decoder stops after this request.
        var switchesProtocol = false
    }

    private static let unremovable: HeaderNameSet = ["host", "content-length", "transfer-encoding"]

    /// Whether the connection stays open after this request's answer. NIO reads an
    /// HTTP/1.0 request as kept alive when `Connection` names `keep-alive`, even beside
    /// `close`, which wins (RFC 9112 §9.3).
    static func keepsAlive(_ head: HTTPRequestHead) -> Bool {
        head.isKeepAlive && (head.version.minor > 0 || !HopByHop.connectionTokens(head.headers["connection"]).contains("close"))
    }
    static let maxConnectionOptions = 32

    /// The refusal, or nil with `framing` filled in; the head loses its `Connection` options.
    static func check(_ head: inout HTTPRequestHead, framing: inout Framing, limits: Limits) -> ProxyError? {
        if head.uri.utf8.count > limits.urlBytes { return .uriTooLong(limit: limits.urlBytes) }
        if head.version.major != 1 { return .badRequest("only HTTP/1.x is spoken here") }
        // CONNECT asks for a tunnel (RFC 9110 §9.3.6), which this proxy opens to no one; in
        // origin form it is malformed too, and was forwarded, and purged like a write.
        if case .CONNECT = head.method { return .badRequest("CONNECT asks for a tunnel, which this proxy does not open") }
        if let first = head.uri.firstUTF8Byte, first != UInt8(ascii: "/"), first != UInt8(ascii: "*") {
            // Absolute-form: its authority is the Host (RFC 9112 §3.2.2), whatever Host said.
            guard let (authority, originForm) = AbsoluteForm.split(head.uri) else {
                return .badRequest("the request target must be a path starting with /, or an http URI with a host")
            }
            // The Host it replaces is held to the same rule first (RFC 9112 §3.2): a front
            // proxy routing on two Hosts or a bad one may have read another host.
            let given = head.headers["host"]
            if given.count > 1 || given.contains(where: { !isHostFieldValue($0) }) {
                return .badRequest("a request needs exactly one Host header, a host and port")
            }
            head.uri = !originForm.isEmpty ? originForm : head.method == .OPTIONS ? "*" : "/"
            head.headers.replaceOrAdd(name: "Host", value: authority)
        }
        var size = head.uri.utf8.count + head.method.rawValue.utf8.count + 12
        var hosts = 0, credentials = 0, proxyCredentials = 0
        var hasConnection = false, underscored = false
        for (name, value) in head.headers {
            size += name.utf8.count + value.utf8.count + 4
            if name.isEmpty || !isSafeFieldValue(value) { return .badRequest("header \(name) has a forbidden character") }
            if name.containsUTF8Byte(UInt8(ascii: "_")) { underscored = true }
            switch name.utf8.count {
            case 4 where name.equalsIgnoringASCIICase("host"):
                hosts += 1
                if !isHostFieldValue(value) { return .badRequest("Host is not a host and port") }
            case 6 where name.equalsIgnoringASCIICase("expect"): framing.expect = framing.expect ?? value
            case 10 where name.equalsIgnoringASCIICase("connection"): hasConnection = true
            case 14 where name.equalsIgnoringASCIICase("content-length"): framing.contentLength = framing.contentLength ?? value
            case 17 where name.equalsIgnoringASCIICase("transfer-encoding"):
                framing.transferEncoding = true
                // RFC 9112 §6.3: a request's codings end in chunked, or its length is
                // unknown (400); §6.1: one not understood before it is a 501. The decoder
                // took the chunks out of `gzip, chunked`, and the gzip was lost upstream.
                let codings = value.split(separator: ",")
                guard let last = codings.last, String(last).trimmingSpaces().equalsIgnoringASCIICase("chunked") else {
                    return .badRequest("Transfer-Encoding \(value) does not end in chunked")
                }
                if codings.count > 1 { return .notImplemented("transfer coding \(value): only chunked is supported") }
            case 13 where name.equalsIgnoringASCIICase("authorization"): credentials += 1
            case 19 where name.equalsIgnoringASCIICase("proxy-authorization"): proxyCredentials += 1
            default: break
            }
        }
        if size > limits.headerBytes { return .headersTooLarge(limit: limits.headerBytes) }
        // RFC 9112 §3.2: exactly one Host on HTTP/1.1, at most one on 1.0.
        if hosts > 1 || (hosts == 0 && head.version.minor >= 1) { return .badRequest("a request needs exactly one Host header") }
        // RFC 9112 §6.1: an HTTP/1.0 message's Transfer-Encoding means faulty framing (a
        // 1.0 hop may not have read it so), and the connection must not carry another
        // request. Refused, as nginx does.
        if framing.transferEncoding && head.version.minor == 0 { return .badRequest("Transfer-Encoding on an HTTP/1.0 request") }
        // The key hashes one credential; an upstream might read the other.
        if credentials > 1 || proxyCredentials > 1 { return .badRequest("more than one Authorization header") }
        if underscored {
            // One pass: a `remove(name:)` per underscored name scans every field each time,
            // and 3 000 distinct names in one head held an event loop for a second.
            head.headers = HTTPHeaders(head.headers.filter { !$0.name.containsUTF8Byte(UInt8(ascii: "_")) })
        }
        if hasConnection {
            let options = HopByHop.connectionTokens(head.headers["connection"])
            // Each option is removed from every field, here and again on the way upstream:
            // thousands in one head made each request cost options × fields comparisons.
            if options.count > maxConnectionOptions {
                return .badRequest("more than \(maxConnectionOptions) Connection options")
            }
            if options.contains(where: unremovable.contains) {
                return .badRequest("Connection may not name Host, Content-Length or Transfer-Encoding")
            }
            framing.switchesProtocol = options.contains("upgrade") && head.headers.contains(name: "upgrade")
            for option in options { head.headers.remove(name: option) }
            if options.contains("expect") { framing.expect = nil }
        }
        // A write whose path has dot or empty segments: no purge can know what it changes.
        // (A case match, not `!=`: HTTPMethod's `==` cost every hit about 120 instructions.)
        switch head.method {
        case .GET, .HEAD: return nil
        default:
            guard !Invalidation.safeMethods.contains(head.method.rawValue), let path = RequestTarget(head.uri)?.path,
                  DotSegments.present(in: path) else { return nil }
            return .badRequest("a \(head.method.rawValue) to a path with dot or empty segments: which resource it changes is ambiguous")
        }
    }
}
