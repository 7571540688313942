/// Dot and empty segments in a path (`/a/./b`, `/a/x/../b`, `/a//b`; escaped `%2e`,
/// Tomcat's `..;x`, a segment that is only `;x`). Upstreams read them differently: one
/// that normalises (Tomcat, Apache, nginx's `merge_slashes`) acts on `/a/b`, a router
/// that does not acts on some other handler, a redirecting one (Go's ServeMux) answers
/// 301. So the proxy cannot tell which entries a write through such a path changes,
/// and refuses it; clients resolve dot segments before sending (RFC 3986 §5.2.4).
public enum DotSegments {
    /// Whether absolute `path` has a `.` or `..` segment, or an empty one other than a
    /// trailing slash's.
    public static func present(in path: Substring) -> Bool {
        let decoded = PathSpelling.exact.canonical(path)
        let parts = decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        return parts.indices.contains { i in
            let bare = parts[i].prefix { $0 != ";" }
            return bare == "." || bare == ".." || (bare.isEmpty && i != parts.indices.last)
        }
    }
}
