import Crypto

/// The identity of one cached answer: a SHA-256 over every part that can change it.
///
/// Parts are length-prefixed before hashing, so no two different requests share a
/// key whatever bytes their parts contain (`a=1&b` vs `a=1&b=`, a header value that
/// looks like a separator...). The key never holds anything in clear: not the path,
/// not the identity.
public struct CacheKey: Hashable, Sendable, CustomStringConvertible {
    public let a: UInt64, b: UInt64, c: UInt64, d: UInt64

    init(digest: SHA256.Digest) {
        var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        digest.withUnsafeBytes { raw in
            words = (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                     raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                     raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                     raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
        (a, b, c, d) = words
    }

    public init(a: UInt64, b: UInt64, c: UInt64, d: UInt64) {
        (self.a, self.b, self.c, self.d) = (a, b, c, d)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(a) }

    /// Lowercase hex of the digest: the form used in Redis keys and debugging.
    public var description: String { hex(after: "") }

    /// `prefix`, then the digest's 64 hex digits, in one allocation: a Redis lookup
    /// names its entry so.
    public func hex(after prefix: String) -> String {
        String(prefix, thenDigits: 64) { out, at in
            UInt64.writeHex(UInt64(bigEndian: a), into: out, at: at)
            UInt64.writeHex(UInt64(bigEndian: b), into: out, at: at + 16)
            UInt64.writeHex(UInt64(bigEndian: c), into: out, at: at + 32)
            UInt64.writeHex(UInt64(bigEndian: d), into: out, at: at + 48)
        }
    }
}

/// Builds keys for requests on cache routes.
public enum CacheKeyBuilder {
    /// The key of a GET on `route`. `identity` is the raw identity value (header or
    /// cookie), nil when the request has none; it is hashed together with the rest.
    /// `varyHeaders` are the headers the upstream was seen to vary this route on
    /// (lowercased), keyed after the configured ones.
    public static func key(route: Route, host: String, target: RequestTarget,
                           headers: some HeaderFields, identity: Substring?, varyHeaders: [String] = [],
                           body: RequestBodyKey? = nil) -> CacheKey {
        CacheKey(digest: KeyHasher.digest { hasher in
            hasher.part(route.keyName)
            hasher.part(host.containsUTF8Byte { $0 >= 0x41 && $0 <= 0x5A } ? host.asciiLowercased : host)
            // DESIGN: keyed byte for byte. Only a route whose upstream reads paths loosely
            // (`paths`) folds its spellings into one key; an escaped spelling on an exact
            // route is its own key, which it never fills (`Exchange.respelled`).
            hasher.part(route.spelling == .exact ? target.path : route.spelling.canonical(target.path))
            appendQuery(target.query, policy: route.query, to: &hasher)
            for name in route.keyHeaders { appendHeader(name, headers, to: &hasher) }
            hasher.count(varyHeaders.count)
            for name in varyHeaders {
                hasher.part(name)
                appendHeader(name, headers, to: &hasher)
            }
            if let identity {
                hasher.count(1)
                hasher.part(identity)
            } else {
                hasher.count(0)
            }
            if route.keyBody, let body {
                hasher.part(body.method)
                hasher.part(body.contentType ?? "")
                body.hash.digest.withUnsafeBytes { hasher.append($0) }
            }
        })
    }

    /// A header's values, whitespace-normalised (RFC 9111 §4.1): `a,b`, `a, b` and
    /// ` a ,b ` are one variant; case is kept, since a field's own rules decide it.
    static func appendHeader(_ name: String, _ headers: some HeaderFields, to hasher: inout KeyHasher) {
        let values = headers.all(name)
        hasher.count(values.count)
        for v in values { hasher.part(normalizedFieldValue(v)) }
    }

    /// Query parameters as raw `name=value` pairs. Sorted by name with a stable sort,
    /// so repeated parameters keep their relative order (which an upstream may honour).
    /// Names compare as loosely as any upstream reads them (decoded, ASCII case-blind as
    /// ASP.NET's, `.` and spaces as `_` and cut at `[` as PHP's): `?%61=evil&a=good` and
    /// `?a=good&%61=evil` give `a` in opposite orders, and sorted by their raw names
    /// they were one key, the first client's answer served for the other order. Names
    /// that compare alike keep the order they came in, so a looser comparison can only
    /// keep more keys apart. A query whose kept pairs hold a `;` keeps its order:
    /// upstreams that split pairs on it too (Rack 2, older Python) read `b=1;a=2` as two
    /// parameters, which a sort of `&` pairs would move as one.
    static func appendQuery(_ query: Substring?, policy: QueryKey, to hasher: inout KeyHasher) {
        guard let query, !query.isEmpty, policy != .none else {
            hasher.count(0)
            return
        }
        let pairs = query.split(separator: "&", omittingEmptySubsequences: true)
        var kept: [(name: Substring, pair: Substring, index: Int)] = []
        kept.reserveCapacity(pairs.count)
        for (i, pair) in pairs.enumerated() {
            let name = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if !policy.keeps(name) { continue }
            kept.append((name, pair, i))
        }
        if !kept.contains(where: { $0.pair.utf8.contains(UInt8(ascii: ";")) }) {
            kept.sort { l, r in
                switch decodedOrder(l.name.utf8, r.name.utf8) {
                case .some(let less): less
                case .none: l.index < r.index
                }
            }
        }
        hasher.count(kept.count)
        for p in kept { hasher.part(p.pair) }
    }
}

/// Trims a field value and the spaces around its commas (RFC 9110 §5.6.1: they mean
/// nothing in a list), but not within a quoted string (§5.6.4), where `"a, b"` and
/// `"a,b"` are two values: keyed as one, an upstream that told them apart had one
/// answer served for the other (the variants audit's).
public func normalizedFieldValue(_ value: String) -> String {
    guard value.contains(",") || value.first == " " || value.last == " " || value.contains("\t") else { return value }
    guard value.contains("\"") else {
        return value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }.joined(separator: ",")
    }
    var elements: [Substring] = []
    var start = value.startIndex
    var quoted = false, escaped = false
    for i in value.indices {
        let c = value[i]
        if escaped {
            escaped = false
        } else if quoted {
            if c == "\\" { escaped = true } else if c == "\"" { quoted = false }
        } else if c == "\"" {
            quoted = true
        } else if c == "," {
            elements.append(value[start..<i])
            start = value.index(after: i)
        }
    }
    elements.append(value[start...])
    return elements.map { $0.trimmingSpaces() }.joined(separator: ",")
}
