import NIOCore
import SidecacheCore

/// The tags a filled answer is stored with: its `Surrogate-Key` values, then the ones
/// its route's `tags` read from its JSON body (DESIGN "Beyond purge rules"). Each tag is
/// a purge scope the entry remembers, so a purge by tag stays O(1).
enum EntryTags {
    static func of(route: Route, lines: [(name: String, value: String)], body: ByteBuffer,
                   allocator: ByteBufferAllocator) -> (tags: [String], dropped: Int) {
        let headers = HeaderList(lines)
        let declared = PurgeScope.tags(headers)
        guard !route.tags.isEmpty, isJSON(headers.first("content-type")), let json = parse(body, headers, allocator) else {
            return (declared, 0)
        }
        let (fromBody, dropped) = BodyTag.tags(route.tags, in: json)
        return (declared + fromBody.filter { !declared.contains($0) }, dropped)
    }

    private static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingSpaces().lowercased() else { return false }
        return type == "application/json" || type.hasSuffix("+json")
    }

    /// The body as JSON, decoded first when the upstream sent it gzipped.
    private static func parse(_ body: ByteBuffer, _ headers: HeaderList, _ allocator: ByteBufferAllocator) -> JSONValue? {
        switch ContentCoding.coding(headers) {
        case "", "identity": return JSONValue.parse(body.readableBytesView)
        case "gzip", "x-gzip": return (try? Gzip.decompress(body, allocator: allocator)).flatMap { JSONValue.parse($0.readableBytesView) }
        default: return nil
        }
    }
}
