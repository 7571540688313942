import NIOCore
import NIOHTTP1

extension AdminResponse {
    /// Framing and connection headers of the refreshed answer: the admin listener frames its own.
    static let ownHeaders: Set<String> = ["content-length", "transfer-encoding", "connection", "keep-alive"]

    /// The refreshed answer as the admin API returns it: the upstream's status, headers
    /// (with the proxy's X-Cache/Cache-Status) and body.
    init(refreshed result: RefreshResult) {
        self.init(status: HTTPResponseStatus(statusCode: result.status),
                  headers: result.headers.filter { !Self.ownHeaders.contains($0.name.lowercased()) }.map { ($0.name, $0.value) },
                  body: result.body)
    }
}
