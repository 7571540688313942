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

    /// Whether `path` has a `..` segment as an upstream may read it: `%2e` a dot, and
    /// `%2f`, `%5c` or `\` a slash (nginx decodes escapes before it resolves dot
    /// segments; IIS takes `\` for `/`), parameters after `;` aside (Tomcat's `..;x`).
    /// Sent below an upstream's base path (`http://host/base`), such a path reaches what
    /// lies beside or above it: `/../admin` went out as `/base/../admin`, which the
    /// upstream served as `/admin` (the curl-options audit).
    public static func climb(in path: Substring) -> Bool {
        var dots = 0
        var other = false
        var inParameters = false
        var bytes = path.utf8.makeIterator()
        while let byte = bytes.next() {
            var b = byte
            if b == UInt8(ascii: "%") {
                var escape = bytes
                if let h1 = escape.next(), let h2 = escape.next(), let value = hexValue(h1, h2) {
                    b = value
                    bytes = escape
                }
            }
            if b == UInt8(ascii: "/") || b == UInt8(ascii: "\\") {
                if dots == 2 && !other { return true }
                dots = 0
                other = false
                inParameters = false
            } else if inParameters {
                continue
            } else if b == UInt8(ascii: ";") {
                inParameters = true
            } else if b == UInt8(ascii: ".") {
                dots += 1
            } else {
                other = true
            }
        }
        return dots == 2 && !other
    }
}
