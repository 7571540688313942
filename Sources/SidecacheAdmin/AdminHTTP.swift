import NIOCore
import NIOHTTP1
import SidecacheCore

/// One admin request, read whole (bodies are small JSON; see `AdminServer.maxBody`).
struct AdminRequest: Sendable {
    var method: HTTPMethod
    /// The path without the query.
    var path: String
    var headers: HTTPHeaders
    var body: [UInt8]
    /// The caller's address, for the log of refreshes and purges.
    var remote: String

    init(head: HTTPRequestHead, body: [UInt8], remote: String) {
        method = head.method
        path = String(head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        headers = head.headers
        self.body = body
        self.remote = remote
    }

    /// The body as a JSON object's members; nil when it is not one.
    var jsonObject: [String: JSONValue]? {
        guard let value = JSONValue.parse(body), case .object(let members) = value else { return nil }
        return members
    }
}

/// One admin answer. Errors use the proxy's JSON error shape (`{"error","detail"}`).
struct AdminResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: [(String, String)]
    var body: ByteBuffer

    static func json(_ value: JSONText, status: HTTPResponseStatus = .ok, headers: [(String, String)] = []) -> AdminResponse {
        AdminResponse(status: status, headers: [("Content-Type", "application/json")] + headers,
                      body: ByteBuffer(string: value.rendered + "\n"))
    }

    static func error(_ status: HTTPResponseStatus, _ code: String, _ detail: String, headers: [(String, String)] = []) -> AdminResponse {
        json(.object([("error", .string(code)), ("detail", .string(detail))]), status: status, headers: headers)
    }

    static func text(_ body: String, contentType: String) -> AdminResponse {
        AdminResponse(status: .ok, headers: [("Content-Type", contentType)], body: ByteBuffer(string: body))
    }
}
