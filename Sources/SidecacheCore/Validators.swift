/// Conditional requests against a stored answer (RFC 9110 §13).
public enum Validators {
    /// What a client's preconditions make of a GET or HEAD answered with a stored 2xx.
    public enum Precondition: Equatable, Sendable {
        /// The answer as it is.
        case satisfied
        /// 304: the client has it.
        case notModified
        /// 412: the client's `If-Match` or `If-Unmodified-Since` names another version.
        case failed
    }

    /// The request fields `precondition` reads, looked for in one pass over the request.
    public static let conditionalFields: HeaderNameSet = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]

    /// RFC 9110 §13.2.2, in its order: `If-Match` (strong comparison, `ifMatchEqual`,
    /// unless `weakStoredTagMayBeOurs` is false; `*` holds, the answer exists), else `If-Unmodified-Since` against `Last-Modified` (ignored when
    /// there is none, or the date is not one); then `If-None-Match`, else
    /// `If-Modified-Since` (`notModified`). The fields are not forwarded on a fill, so no
    /// one else evaluates them.
    public static func precondition(request: some HeaderFields, stored: some HeaderFields,
                                    weakStoredTagMayBeOurs: Bool = true) -> Precondition {
        let ifMatch = request.all("if-match")
        if !ifMatch.isEmpty {
            let tags = entityTags(ifMatch)
            let equal = weakStoredTagMayBeOurs ? ifMatchEqual : strongEqual
            guard tags.contains("*") || stored.first("etag").map({ etag in tags.contains { equal($0, etag) } }) == true else {
                return .failed
            }
        } else if let since = request.first("if-unmodified-since").flatMap(HTTPDate.parse),
                  let modified = stored.first("last-modified").flatMap(HTTPDate.parse), modified > since {
            return .failed
        }
        return notModified(request: request, stored: stored) ? .notModified : .satisfied
    }

    /// `If-Match`'s comparison: strong (§13.1.1), but a weak stored tag is taken for its
    /// strong spelling. An entry this proxy compressed carries the upstream's strong tag
    /// weakened (§8.8.3), and a client holding that strong tag (from a bypassed or a
    /// mutation's answer) got a 412 the upstream would never give. The proxy cannot tell
    /// its own weakening from the upstream's, so it errs toward the answer: an upstream's
    /// own weak tag matched this way gives 200 where the upstream would say 412.
    static func ifMatchEqual(_ requested: String, _ stored: String) -> Bool {
        let stored = stored.trimmingSpaces()
        return strongEqual(requested, stored.hasPrefix("W/") ? String(stored.dropFirst(2)) : stored)
    }

    /// The members of entity-tag list fields (`If-Match`, `If-None-Match`): split at the
    /// commas outside quotes, since an opaque tag may hold one (`"a,b"`, §8.8.3).
    static func entityTags(_ values: [String]) -> [String] {
        var tags: [String] = []
        for value in values {
            var quoted = false
            var start = value.startIndex
            for i in value.indices {
                switch value[i] {
                case "\"": quoted.toggle()
                case "," where !quoted:
                    tags.append(value[start..<i].trimmingSpaces())
                    start = value.index(after: i)
                default: break
                }
            }
            tags.append(value[start...].trimmingSpaces())
        }
        return tags.filter { !$0.isEmpty }
    }

    /// Strong comparison: both tags strong and the same.
    static func strongEqual(_ a: String, _ b: String) -> Bool {
        let a = a.trimmingSpaces(), b = b.trimmingSpaces()
        return !a.hasPrefix("W/") && !b.hasPrefix("W/") && a == b
    }

    /// Whether a client's conditional GET/HEAD is satisfied by the stored answer, so a
    /// 304 may be sent: `If-None-Match` (weak comparison) when present, otherwise
    /// `If-Modified-Since` against `Last-Modified`.
    public static func notModified(request: some HeaderFields, stored: some HeaderFields) -> Bool {
        let inm = request.all("if-none-match")
        if !inm.isEmpty {
            // `*` holds for any current representation, tagged or not (§13.1.2).
            let tags = entityTags(inm)
            if tags.contains("*") { return true }
            guard let etag = stored.first("etag") else { return false }
            return tags.contains { weakEqual($0, etag) }
        }
        guard let since = request.first("if-modified-since").flatMap(HTTPDate.parse),
              let modified = stored.first("last-modified").flatMap(HTTPDate.parse) else { return false }
        return modified <= since
    }

    /// Weak comparison: equal opaque tags, ignoring `W/`.
    public static func weakEqual(_ a: String, _ b: String) -> Bool {
        func opaque(_ s: String) -> Substring {
            let t = Substring(s.trimmingSpaces())
            return t.hasPrefix("W/") ? t.dropFirst(2) : t
        }
        return opaque(a) == opaque(b)
    }

    /// The conditional headers to revalidate a stored answer with, if it has validators.
    public static func revalidationHeaders(stored: some HeaderFields) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        if let etag = stored.first("etag") { out.append((name: "If-None-Match", value: etag)) }
        if let modified = stored.first("last-modified") { out.append((name: "If-Modified-Since", value: modified)) }
        return out
    }

    /// Whether a 304 confirms the stored answer it revalidated (RFC 9111 §4.3.4). With
    /// entity tags on both sides they must be the same (weakly: an entry stored
    /// compressed carries the upstream's tag weakened); otherwise a `Last-Modified` on
    /// both sides must not be later than the stored one (servers behind one balancer
    /// may date the same file differently, and an older date vouches for the stored
    /// answer). A 304 naming another representation must update nothing: merged, the
    /// stored body was served fresh under the other's tag.
    public static func confirms(stored: some HeaderFields, notModified: some HeaderFields) -> Bool {
        if let etag = notModified.first("etag"), let was = stored.first("etag") { return weakEqual(was, etag) }
        if let modified = notModified.first("last-modified"), let was = stored.first("last-modified") {
            guard let then = HTTPDate.parse(was), let now = HTTPDate.parse(modified) else { return was == modified }
            return now <= then
        }
        return true
    }

    /// Headers a 304 carries from the stored answer (RFC 9110 §15.4.5).
    public static let notModifiedFields: HeaderNameSet = ["cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"]

    private static let framing: HeaderNameSet = ["content-length", "content-encoding", "transfer-encoding", "content-range"]

    /// The stored header lines updated by a 304's (RFC 9111 §4.3.4): fields the 304 carries
    /// replace the stored ones of the same name; framing fields never change.
    public static func merge(stored: [(name: String, value: String)], notModified: [(name: String, value: String)]) -> [(name: String, value: String)] {
        let updated = notModified.filter { !framing.contains($0.name) }
        let replaced = Set(updated.map { $0.name.lowercased() })
        return stored.filter { !replaced.contains($0.name.lowercased()) } + updated
    }
}
