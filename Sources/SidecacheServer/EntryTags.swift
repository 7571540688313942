import NIOCore
import SidecacheCore

/// The tags a filled answer is stored with: its `Surrogate-Key` values, then the ones
/// its route's `tags` read from its JSON body (DESIGN "Beyond purge rules"). Each tag is
/// a purge scope the entry remembers, so a purge by tag stays O(1).
enum EntryTags {
    /// `identity` is the body as the upstream meant it (decoded when it came gzipped),
    /// nil when it cannot be read.
    static func of(route: Route, lines: [(name: String, value: String)], identity: ByteBuffer?) -> (tags: [String], dropped: Int) {
        let headers = HeaderList(lines)
        let declared = PurgeScope.tags(headers)
        guard !route.tags.isEmpty, isJSON(headers.first("content-type")), let identity,
              let json = JSONValue.parse(identity.readableBytesView) else {
            return (declared, 0)
        }
        let (fromBody, dropped) = BodyTag.tags(route.tags, in: json)
        return (declared + fromBody.filter { !declared.contains($0) }, dropped)
    }

    private static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingSpaces().lowercased() else { return false }
        return type == "application/json" || type.hasSuffix("+json")
    }
}
