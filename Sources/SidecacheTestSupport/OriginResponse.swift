/// What a script tells the origin to answer. Headers are sent verbatim, in order; the origin
/// only adds framing the script left out (see `Body`).
public struct OriginResponse: Sendable {
    public enum Body: Sendable {
        /// Sent with `Content-Length`, unless the script set `Content-Length` or
        /// `Transfer-Encoding` itself (then it is sent as-is under those headers).
        case bytes([UInt8])
        /// `count` deterministic bytes (byte i is `UInt8(i % 251)`, see `generatedBytes`),
        /// sent with `Content-Length` in 64 KiB writes, each awaited, so a 20 MB body is
        /// never buffered at once.
        case generated(count: Int)
        /// `Transfer-Encoding: chunked`, one chunk per element (empty elements are skipped,
        /// as an empty chunk would end the body).
        case chunked([[UInt8]])
    }

    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Body
    /// Waited before the head (and before any interim responses) is sent.
    public var delay: Duration
    /// Interim (1xx) responses sent before the final one, e.g. `103 Early Hints`.
    public var interim: [(status: Int, headers: [(name: String, value: String)])]
    /// Close the connection instead of answering (after `delay`): an upstream that dies mid-request.
    public var aborts = false

    /// No answer at all: the connection is closed once the request has arrived.
    public static var abort: OriginResponse {
        var response = OriginResponse()
        response.aborts = true
        return response
    }

    public init(
        status: Int = 200,
        headers: [(name: String, value: String)] = [],
        body: Body = .bytes([]),
        delay: Duration = .zero,
        interim: [(status: Int, headers: [(name: String, value: String)])] = []
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delay = delay
        self.interim = interim
    }

    /// A UTF-8 body with `Content-Type: text/plain; charset=utf-8` unless `headers` set one.
    public static func text(
        _ s: String,
        status: Int = 200,
        headers: [(name: String, value: String)] = []
    ) -> OriginResponse {
        OriginResponse(
            status: status,
            headers: withContentType("text/plain; charset=utf-8", headers),
            body: .bytes(Array(s.utf8))
        )
    }

    /// A UTF-8 body with `Content-Type: application/json` unless `headers` set one.
    public static func json(
        _ s: String,
        status: Int = 200,
        headers: [(name: String, value: String)] = []
    ) -> OriginResponse {
        OriginResponse(
            status: status,
            headers: withContentType("application/json", headers),
            body: .bytes(Array(s.utf8))
        )
    }

    /// Adds a `103 Early Hints` interim response carrying `links` as `Link` headers.
    public func withEarlyHints(_ links: [String]) -> OriginResponse {
        var copy = self
        copy.interim.append((status: 103, headers: links.map { (name: "Link", value: $0) }))
        return copy
    }

    /// The same response after `delay`.
    public func delayed(_ delay: Duration) -> OriginResponse {
        var copy = self
        copy.delay = delay
        return copy
    }

    /// The bytes `.generated(count:)` sends, for comparing against what a client received.
    public static func generatedBytes(count: Int) -> [UInt8] {
        generatedBytes(from: 0, count: count)
    }

    static func generatedBytes(from start: Int, count: Int) -> [UInt8] {
        // Whole runs of the 251-byte cycle at a time: fast even in debug builds.
        let cycle = (0..<251).map { UInt8($0) }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var position = start % 251
        while out.count < count {
            let run = min(251 - position, count - out.count)
            out.append(contentsOf: cycle[position..<(position + run)])
            position = 0
        }
        return out
    }

    private static func withContentType(
        _ type: String,
        _ headers: [(name: String, value: String)]
    ) -> [(name: String, value: String)] {
        headers.contains("Content-Type") ? headers : [(name: "Content-Type", value: type)] + headers
    }
}
