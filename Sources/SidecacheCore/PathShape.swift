/// The shape route patterns and purge templates share: absolute, segments between
/// slashes, no empty segment (except the root "/"), an optional final `*`.
/// What a `{…}` segment means is up to each of them.
enum PathShape {
    enum Problem: Error {
        case notAbsolute, emptySegment, starNotLast
    }

    /// The segments (without the final `*`) and whether the path ends in `*`.
    static func split(_ source: String) throws(Problem) -> (segments: [Substring], star: Bool) {
        guard source.hasPrefix("/") else { throw .notAbsolute }
        let parts = source.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        if parts == [""] { return ([], false) }   // "/" alone is the root
        var segments: [Substring] = []
        for (i, part) in parts.enumerated() {
            if part.isEmpty { throw .emptySegment }
            if part == "*" {
                guard i == parts.count - 1 else { throw .starNotLast }
                return (segments, true)
            }
            if part.contains("*") { throw .starNotLast }
            segments.append(part)
        }
        return (segments, false)
    }
}
