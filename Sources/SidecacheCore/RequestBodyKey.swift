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

extension RequestBodyKey {
    private static let writes = [Array("mutation".utf8), Array("subscription".utf8), Array("\\u".utf8)]

    /// Why a POST on a `key.body` route must not use the cache, if it must not.
    /// - A body that may be a GraphQL `mutation` or `subscription` (the word anywhere, or
    ///   a JSON `\u` escape that could spell it): one endpoint takes reads and writes,
    ///   and a mutation was stored as a read, its repeat answered without reaching the
    ///   upstream, its purges never run. Read as a write it is forwarded and purges as one.
    /// - A `Content-Encoding` (the key hashed the encoded bytes; the upstream reads them
    ///   decoded or not, so two readings shared one key), or `Content-Type` twice (the
    ///   key took the first, an upstream may take the last).
    public static func refusal(headers: some HeaderFields, body: UnsafeRawBufferPointer?) -> BypassReason? {
        if headers.all("content-type").count > 1 { return .requestBody }
        if headers.all("content-encoding").contains(where: { !$0.trimmingSpaces().equalsIgnoringASCIICase("identity") }) { return .requestBody }
        guard let body, body.containsAny(of: writes) else { return nil }
        return .mutation
    }
}

extension UnsafeRawBufferPointer {
    /// Whether any of `words` occurs in these bytes: one pass, comparing only where a
    /// word's first byte is (POST bodies up to `maxRequestBody`, on hits too: cheaper
    /// than hashing them).
    func containsAny(of words: [[UInt8]]) -> Bool {
        for i in indices {
            for word in words where word[0] == self[i] && count - i >= word.count
                && UnsafeRawBufferPointer(rebasing: self[i..<(i + word.count)]).elementsEqual(word) {
                return true
            }
        }
        return false
    }
}
