import NIOCore
import SidecacheCore

/// The tags a filled answer is stored with: its `Surrogate-Key` values, then the ones
/// its route's `tags` read from its JSON body (DESIGN "Beyond purge rules"). Each tag is
/// a purge scope the entry remembers, so a purge by tag stays O(1).
enum EntryTags {
    /// `Surrogate-Key` tags one entry may carry, each once: every one is a counter a Redis
    /// lookup of the entry reads.
    static let maxDeclared = 256

    /// What an answer is tagged with, or why it cannot be stored: a purge by a tag it
    /// could not carry would miss it.
    enum Outcome {
        case tags([String])
        /// Tags past the limits (`maxDeclared`, `BodyTag.maxPerEntry`).
        case tooMany(over: Int)
        /// A JSON answer on a route with body tags, in a coding the proxy does not read
        /// (`br` where the route stores as sent).
        case unreadable
        /// An answer on a route with body tags that is not JSON, or not JSON that parses.
        case untagged
        /// Values its route's tags reach that no tag can hold (`BodyTag.Reading`).
        case unnamable(count: Int)
    }

    /// `identity` is the body as the upstream meant it (decoded when it came gzipped),
    /// nil when it cannot be read.
    static func of(route: Route, lines: [(name: String, value: String)], identity: ByteBuffer?) -> Outcome {
        let headers = HeaderList(lines)
        let declared = PurgeScope.tags(headers).uniqued()
        let overDeclared = max(0, declared.count - maxDeclared)
        guard overDeclared == 0 else { return .tooMany(over: overDeclared) }
        guard !route.tags.isEmpty else { return .tags(declared) }
        guard isJSON(headers.first("content-type")) else { return .untagged }
        guard let identity else { return .unreadable }
        guard let reading = identity.withUnsafeReadableBytes({ BodyTag.tags(route.tags, inJSON: $0) }) else {
            return .untagged
        }
        guard reading.dropped == 0 else { return .tooMany(over: reading.dropped) }
        guard reading.unnamable == 0 else { return .unnamable(count: reading.unnamable) }
        return .tags((declared + reading.tags).uniqued())
    }

    private static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingSpaces().lowercased() else { return false }
        return type == "application/json" || type.hasSuffix("+json")
    }
}
