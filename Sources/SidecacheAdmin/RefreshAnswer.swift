import NIOCore
import NIOHTTP1

/// What `/refresh` fetched: the upstream's status, the headers the proxy wrote (with its
/// X-Cache/Cache-Status) and the body.
public struct RefreshedAnswer: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: ByteBuffer

    public init(status: Int, headers: [(name: String, value: String)], body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

extension AdminResponse {
    /// Framing and connection headers of the refreshed answer: the admin listener frames its own.
    static let ownHeaders: Set<String> = ["content-length", "transfer-encoding", "connection", "keep-alive"]

    /// The refreshed answer as the admin API returns it.
    init(refreshed result: RefreshedAnswer) {
        self.init(status: HTTPResponseStatus(statusCode: result.status),
                  headers: result.headers.filter { !Self.ownHeaders.contains($0.name.lowercased()) }.map { ($0.name, $0.value) },
                  body: result.body)
    }
}
