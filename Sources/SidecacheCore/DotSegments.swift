/// The path a normalising upstream reads for a spelling with dot or empty segments:
/// `.` and `..` segments resolved (RFC 3986 §5.2.4; Tomcat also reads `..;x` as `..`),
/// empty segments merged (nginx's `merge_slashes`, Apache, Tomcat), escaped dots
/// (`%2e`) read as dots. Reads of such spellings bypass the cache, but a mutation sent
/// through one changes the resource at the plain path, whose entries its purges must
/// reach: the mutation's own path and the purge rules it matches are taken from this.
public enum DotSegments {
    /// `path` (absolute) without dot or empty segments; `path` itself when it has none.
    public static func removed(from path: Substring) -> Substring {
        let decoded = PathSpelling.exact.canonical(path)
        guard hasAny(decoded) else { return path }
        var segments: [Substring] = []
        var endsInSlash = false
        for part in decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            switch part.prefix(while: { $0 != ";" }) {
            case "", ".":
                endsInSlash = true
            case "..":
                if !segments.isEmpty { segments.removeLast() }
                endsInSlash = true
            default:
                segments.append(part)
                endsInSlash = false
            }
        }
        let joined = "/" + segments.joined(separator: "/")
        return Substring(endsInSlash && !segments.isEmpty ? joined + "/" : joined)
    }

    /// A `.` or `..` segment (before any `;`), or an empty one other than a trailing slash's.
    private static func hasAny(_ path: Substring) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        return parts.indices.contains { i in
            let bare = parts[i].prefix { $0 != ";" }
            return bare == "." || bare == ".." || (bare.isEmpty && parts[i].isEmpty && i != parts.indices.last)
        }
    }
}
