import NIOCore
import SidecacheCore

/// The tags a filled answer is stored with: its `Surrogate-Key` values, then the ones
/// its route's `tags` read from its JSON body (DESIGN "Beyond purge rules"). Each tag is
/// a purge scope the entry remembers, so a purge by tag stays O(1).
enum EntryTags {
    /// `Surrogate-Key` tags one entry may carry, each once: every one is a counter a Redis
    /// lookup of the entry reads.
    static let maxDeclared = 256

    /// `identity` is the body as the upstream meant it (decoded when it came gzipped),
    /// nil when it cannot be read. `over`: the tags past the limits (`maxDeclared`,
    /// `BodyTag.maxPerEntry`), which the entry would not carry: such an answer is not
    /// stored, since a purge by one of them would miss it.
    static func of(route: Route, lines: [(name: String, value: String)], identity: ByteBuffer?) -> (tags: [String], over: Int) {
        let headers = HeaderList(lines)
        var seen: Set<String> = []
        let declared = PurgeScope.tags(headers).filter { seen.insert($0).inserted }
        let overDeclared = max(0, declared.count - maxDeclared)
        guard overDeclared == 0 else { return ([], overDeclared) }
        guard !route.tags.isEmpty, isJSON(headers.first("content-type")), let identity,
              let json = JSONValue.parse(identity.readableBytesView) else {
            return (declared, 0)
        }
        let (fromBody, dropped) = BodyTag.tags(route.tags, in: json)
        return (declared + fromBody.filter { !seen.contains($0) }, dropped)
    }

    private static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingSpaces().lowercased() else { return false }
        return type == "application/json" || type.hasSuffix("+json")
    }
}
