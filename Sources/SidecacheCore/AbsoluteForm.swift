/// A request-target in absolute-form (`http://api.example/a?x=1`), as a client that
/// takes the proxy for a forward proxy sends it. RFC 9112 §3.2.2: a server must accept
/// it, and the target's authority replaces the `Host` field. Read into the origin form
/// and the authority the request then carries, so that the key, the routes and the
/// upstream all see one host and one path.
public enum AbsoluteForm {
    /// The authority and the origin-form target (empty when the URI has neither path nor
    /// query: `/`, or `*` for OPTIONS, RFC 9112 §3.2.4), or nil when `uri` is not an
    /// `http` or `https` URI with a host. A userinfo (`http://user@host/`) is refused: RFC 9110
    /// §4.2.4 forbids it in an `http` URI, and a host that follows one is easily misread.
    public static func split(_ uri: String) -> (authority: String, originForm: String)? {
        let bytes = Array(uri.utf8)
        let schemeEnd: Int
        if equalsLowercase(bytes.prefix(7), "http://") {
            schemeEnd = 7
        } else if equalsLowercase(bytes.prefix(8), "https://") {
            schemeEnd = 8
        } else {
            return nil
        }
        let rest = bytes[schemeEnd...]
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? bytes.endIndex
        let authority = String(decoding: bytes[schemeEnd..<authorityEnd], as: UTF8.self)
        guard !authority.contains("@"), isHostFieldValue(authority) else { return nil }
        let target = bytes[authorityEnd...]
        if target.first == UInt8(ascii: "#") { return nil }
        let path = target.isEmpty || target.first == UInt8(ascii: "/") ? String(decoding: target, as: UTF8.self)
            : "/" + String(decoding: target, as: UTF8.self)
        return (authority, path)
    }
}
