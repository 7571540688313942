/// gzip as a property of entries (DESIGN "HTTP fidelity", compression): which answers
/// are stored compressed, which clients get the stored bytes, and what a transformed
/// answer says about itself. One gzip body per entry, so `Accept-Encoding` never splits
/// the cache between gzip and identity clients.
public enum ContentCoding {
    /// Shorter bodies are stored as sent: gzip's 18-byte frame and the CPU are not worth it.
    public static let minimumLength = 1024

    /// Whether a compressing route must not store an answer: a coding other than gzip
    /// (`br`, `zstd`, …) would split the cache by client, and gzip with `no-transform`
    /// could not be served to clients without gzip.
    public static func refuses(_ headers: some HeaderFields) -> Bool {
        switch coding(headers) {
        case "": false
        case "gzip", "x-gzip": CacheControl(headers.all("cache-control")).noTransform
        default: true
        }
    }

    /// Whether an answer a route that does not compress keeps as sent may answer every
    /// client its key lets in: plain, or gzip without `no-transform` (a client without
    /// gzip is served it decoded); or, when `Accept-Encoding` is part of the key (`keyed`:
    /// the route's key headers and those learned from `Vary`), in any coding the
    /// `request`'s `Accept-Encoding` (the one every client of the key sends) takes.
    /// DESIGN: br and zstd are served only to clients that accept them; an upstream that
    /// answered br to `gzip` had its br stored for every `gzip` client, and gzip with
    /// `no-transform` was decoded for clients without gzip.
    public static func everyClientReads(_ headers: some HeaderFields, keyedOn keyed: [String], request: some HeaderFields) -> Bool {
        let coding = coding(headers)
        if keyed.contains("accept-encoding") { return coding.isEmpty || accepted(coding, by: request.all("accept-encoding")) }
        return coding.isEmpty || (isGzip(coding) && !CacheControl(headers.all("cache-control")).noTransform)
    }

    /// Whether `Accept-Encoding` (its field lines) takes every coding of `coding` (as
    /// `coding(_:)` gives it, `gzip, br` for two), RFC 9110 §12.5.3: each named with a
    /// non-zero qvalue, or `*` with one where it is not named (`x-gzip` is `gzip`).
    static func accepted(_ coding: String, by acceptEncoding: [String]) -> Bool {
        coding.split(separator: ",").allSatisfy { part in
            let wanted = part.trimmingSpaces()
            var named: Bool?, star: Bool?
            for member in acceptEncoding.lazy.flatMap({ $0.split(separator: ",") }) {
                let parameters = member.firstIndex(of: ";")
                let name = member[..<(parameters ?? member.endIndex)].trimmingSpaces().lowercased()
                let positive = parameters.map { qualityIsPositive(member[member.index(after: $0)...].utf8) } ?? true
                if name == wanted || (isGzip(name) && isGzip(wanted)) { named = positive } else if name == "*" { star = positive }
            }
            return named ?? star ?? false
        }
    }

    /// Whether a compressing route gzips an answer at store time: identity, of a
    /// compressible type, long enough, and no `no-transform`. (Gzip answers are kept.)
    public static func compresses(_ headers: some HeaderFields, bodyLength: Int) -> Bool {
        return coding(headers).isEmpty && bodyLength >= minimumLength && isCompressible(headers.first("content-type"))
            && !CacheControl(headers.all("cache-control")).noTransform
    }

    /// The answer's `Content-Encoding`, trimmed and lowercased; "" without one. Every
    /// line counts (two lines are one list, RFC 9110 §5.3: `gzip` then `br` is `gzip, br`,
    /// which no client without br can read), and `identity` names no coding: an answer
    /// saying only that is plain.
    public static func coding(_ headers: some HeaderFields) -> String {
        let values = headers.all("content-encoding")
        guard !values.isEmpty else { return "" }
        if values.count == 1, !values[0].contains(",") {
            let coding = values[0].trimmingSpaces().lowercased()
            return coding == "identity" ? "" : coding
        }
        return values.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces().lowercased() }
            .filter { !$0.isEmpty && $0 != "identity" }.joined(separator: ", ")
    }

    /// Whether `coding` (as `coding(_:)` gives it) is gzip: `x-gzip` is (RFC 9110 §8.4.1.3).
    public static func isGzip(_ coding: String) -> Bool { coding == "gzip" || coding == "x-gzip" }

    /// Whether a client takes gzip, RFC 9110 §12.5.3: `gzip` (or `x-gzip`, or `*` when
    /// gzip is not named) with a non-zero qvalue; no `Accept-Encoding` at all: identity.
    /// Fed one field line at a time, read in place: the hit path hands over the request's
    /// lines as it walks them (a lazy filtered sequence of them costs a generic
    /// instantiation per hit across modules).
    public struct GzipAcceptance {
        private var named: Bool?
        private var star: Bool?

        public init() {}

        public var accepts: Bool { named ?? star ?? false }

        /// Reads one field line's members; true once gzip was named (nothing after counts).
        public mutating func read(_ value: String) -> Bool {
            var utf8 = value.utf8[...]
            while !utf8.isEmpty {
                let end = utf8.firstIndex(of: UInt8(ascii: ",")) ?? utf8.endIndex
                let member = utf8[..<end]
                utf8 = end == utf8.endIndex ? utf8[end...] : utf8[utf8.index(after: end)...]
                let nameEnd = member.firstIndex(of: UInt8(ascii: ";")) ?? member.endIndex
                let name = member[..<nameEnd].trimmingOWS()
                let accepted = nameEnd == member.endIndex || ContentCoding.qualityIsPositive(member[member.index(after: nameEnd)...])
                if equalsLowercase(name, "gzip") || equalsLowercase(name, "x-gzip") {
                    named = accepted
                    return true
                }
                if equalsLowercase(name, "*") { star = accepted }
            }
            return false
        }
    }

    /// Parameters after a coding: false only for a `q` of zero (`q=0`, `q=0.0`, `q=0.000`).
    private static func qualityIsPositive(_ parameters: Substring.UTF8View.SubSequence) -> Bool {
        var rest = parameters
        while !rest.isEmpty {
            let end = rest.firstIndex(of: UInt8(ascii: ";")) ?? rest.endIndex
            let parameter = rest[..<end].trimmingOWS()
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
            guard parameter.count >= 2, parameter.first! | 0x20 == UInt8(ascii: "q"),
                  parameter[parameter.index(after: parameter.startIndex)] == UInt8(ascii: "=") else { continue }
            return parameter.dropFirst(2).contains { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }
        }
        return true
    }

    /// `text/*`, JSON, XML and JavaScript: what compresses well.
    public static func isCompressible(_ contentType: String?) -> Bool {
        guard var contentType else { return false }
        // The media type, read in place: every fill of a compressing route asks.
        return contentType.withUTF8 { bytes in
            var type = bytes[...]
            if let semicolon = type.firstIndex(of: UInt8(ascii: ";")) { type = type[..<semicolon] }
            type = type.trimmingOWS()
            func `is`(_ name: StaticString) -> Bool { equalsLowercase(type, name) }
            func starts(_ prefix: StaticString) -> Bool { equalsLowercase(type.prefix(prefix.utf8CodeUnitCount), prefix) }
            func ends(_ suffix: StaticString) -> Bool { equalsLowercase(type.suffix(suffix.utf8CodeUnitCount), suffix) }
            return starts("text/") || `is`("application/json") || ends("+json") || ends("+xml") || `is`("application/javascript")
                || `is`("application/xml")
        }
    }

    /// RFC 9110 §8.8.3: a transformed representation is not the one the strong
    /// validator named.
    public static func weakened(_ etag: String) -> String {
        let tag = etag.trimmingSpaces()
        return tag.hasPrefix("W/") ? tag : "W/" + tag
    }

    /// The header lines a compressing route stores (and any route a gzip answer, which
    /// clients without gzip get decoded), from the upstream's: one
    /// `Content-Encoding: gzip` when the body is gzip (sent so, or `compressed` here: a
    /// strong `ETag` weakened then), none when it is plain (an upstream's `identity` says
    /// nothing), and one `Vary` naming `Accept-Encoding` either way. Only for plain or gzip
    /// answers (`refuses` keeps the others out).
    public static func storedLines(_ lines: [(name: String, value: String)], compressed: Bool) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        out.reserveCapacity(lines.count + 2)
        let gzip = compressed || isGzip(coding(HeaderList(lines)))
        for line in lines {
            if line.name.equalsIgnoringASCIICase("etag") && compressed {
                out.append((line.name, weakened(line.value)))
            } else if line.name.equalsIgnoringASCIICase("content-encoding") {
                continue   // written once below: x-gzip is gzip (RFC 9110 §8.4.1.3), identity is nothing
            } else {
                out.append(line)
            }
        }
        if gzip { out.append((name: "Content-Encoding", value: "gzip")) }
        KeyVary.advertise(["Accept-Encoding"], in: &out)
        return out
    }
}
