/// What a request contributes to its key on a `key.body` route (DESIGN "Beyond purge
/// rules", request-body keys): the method (a GET and an empty POST are different
/// requests), the `Content-Type` (the same bytes as JSON and as a form are different
/// queries) and a SHA-256 of the body. The body itself is never kept.
public struct RequestBodyKey: Sendable {
    public let method: String
    public let contentType: String?
    public let hash: BodyHash

    public init(method: String, contentType: String?, body: UnsafeRawBufferPointer) {
        self.method = method
        self.contentType = contentType.map(normalizedFieldValue)
        self.hash = BodyHash(body)
    }
}
