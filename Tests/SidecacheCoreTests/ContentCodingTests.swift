import SidecacheCore
import Testing

/// RFC 9110 §12.5.3 (Accept-Encoding), §8.8.3 (weak validators after a transformation),
/// RFC 9111 §5.2.2.6 (no-transform): the pure decisions behind compression.
@Suite struct ContentCodingTests {
    /// The `Accept-Encoding` field lines as `ResponseWriter` feeds them, in order.
    static func acceptsGzip(_ lines: [String]) -> Bool {
        var acceptance = ContentCoding.GzipAcceptance()
        for line in lines where acceptance.read(line) { break }
        return acceptance.accepts
    }

    @Test(arguments: [
        ("gzip", true), ("GZIP", true), ("x-gzip", true), ("deflate, gzip;q=0.5", true), ("br, gzip", true),
        ("*", true), ("*;q=0.1", true),
        ("gzip;q=0", false), ("gzip; q=0.0", false), ("*;q=0", false), ("gzip;q=0, *", false),
        ("identity", false), ("br", false), ("", false),
    ])
    func acceptsGzip(value: String, accepted: Bool) {
        #expect(Self.acceptsGzip([value]) == accepted, "\(value)")
    }

    @Test func noAcceptEncodingMeansIdentity() {
        #expect(!Self.acceptsGzip([]))
        #expect(Self.acceptsGzip(["br", "gzip"]), "several field lines are one list")
    }

    @Test(arguments: [
        ("application/json", true), ("application/json; charset=utf-8", true), ("text/html", true), ("application/problem+json", true),
        ("application/atom+xml", true), ("application/javascript", true), ("application/xml", true),
        ("image/png", false), ("application/octet-stream", false), ("application/zip", false),
        (" Text/Plain ", true), ("APPLICATION/JSON;charset=utf-8", true), ("application/VND.api+JSON", true),
        ("application/jsonp", false), ("json", false), ("", false), ("text", false), ("; text/html", false),
    ])
    func compressibleTypes(type: String, compressible: Bool) {
        #expect(ContentCoding.isCompressible(type) == compressible)
        #expect(!ContentCoding.isCompressible(nil))
    }

    @Test func whatIsCompressedKeptOrRefused() {
        let json = [("Content-Type", "application/json")]
        func headers(_ extra: [(String, String)]) -> HeaderList { HeaderList((json + extra).map { (name: $0.0, value: $0.1) }) }
        #expect(ContentCoding.compresses(headers([]), bodyLength: 1024))
        #expect(!ContentCoding.compresses(headers([]), bodyLength: 1023))
        #expect(!ContentCoding.compresses(headers([("Cache-Control", "no-transform")]), bodyLength: 4096))
        #expect(!ContentCoding.compresses(headers([("Content-Encoding", "gzip")]), bodyLength: 4096))
        #expect(!ContentCoding.refuses(headers([("Content-Encoding", "gzip")])))
        #expect(ContentCoding.refuses(headers([("Content-Encoding", "gzip"), ("Cache-Control", "max-age=9, no-transform")])))
        #expect(ContentCoding.refuses(headers([("Content-Encoding", "br")])))
        #expect(!ContentCoding.refuses(headers([("Content-Encoding", "identity")])))
    }

    @Test func transformedLines() {
        let stored = ContentCoding.storedLines([("ETag", #""a""#), ("Vary", "Origin")], compressed: true)
        #expect(stored.map(\.name) == ["ETag", "Vary", "Content-Encoding"], "one Vary line: nginx in front reads the last alone")
        #expect(stored.map(\.value) == [#"W/"a""#, "Origin, Accept-Encoding", "gzip"])
        let kept = ContentCoding.storedLines([("Content-Encoding", "x-gzip"), ("ETag", #"W/"b""#), ("Vary", "accept-encoding")],
                                             compressed: false)
        #expect(kept.map(\.value) == [#"W/"b""#, "accept-encoding", "gzip"], "no second Vary, x-gzip is gzip")
    }

    /// `identity` names no coding, and every `Content-Encoding` line counts. An upstream's
    /// `identity` was kept and rewritten to `gzip` over a plain body (or beside the gzip
    /// line a compressed one got): every client of the entry got garbage.
    @Test func identityIsNoCodingAndEveryLineCounts() {
        func coding(_ values: [String]) -> String { ContentCoding.coding(HeaderList(values.map { (name: "Content-Encoding", value: $0) })) }
        #expect(coding(["identity"]) == "" && coding([" Identity "]) == "" && coding([]) == "")
        #expect(coding(["gzip", "br"]) == "gzip, br" && coding(["gzip, br"]) == "gzip, br")
        #expect(coding(["identity", "X-Gzip"]) == "x-gzip")
        let json = (name: "Content-Type", value: "application/json")
        #expect(ContentCoding.compresses(HeaderList([json, (name: "Content-Encoding", value: "identity")]), bodyLength: 4096))
        #expect(ContentCoding.refuses(HeaderList([json, (name: "Content-Encoding", value: "gzip"), (name: "Content-Encoding", value: "br")])))
        let encodings = { (lines: [(name: String, value: String)]) in lines.filter { $0.name == "Content-Encoding" }.map(\.value) }
        #expect(encodings(ContentCoding.storedLines([json, ("Content-Encoding", "identity")], compressed: true)) == ["gzip"])
        #expect(encodings(ContentCoding.storedLines([json, ("Content-Encoding", "identity")], compressed: false)).isEmpty)
    }

    /// A route that does not compress and keys `Accept-Encoding` stores an answer in a
    /// coding only for the `Accept-Encoding` that takes it: an upstream that answered
    /// br to `gzip` had its br stored for every `gzip` client, and gzip with
    /// `no-transform` was decoded for clients without gzip (DESIGN: br and zstd only to
    /// clients that accept them).
    @Test(arguments: [
        ("br", "gzip", false), ("br", "gzip, br", true), ("br", "*", true), ("br", "*, br;q=0", false), ("br", "", false),
        ("gzip", "x-gzip", true), ("gzip", "", false), ("gzip", "gzip;q=0", false), ("gzip, br", "gzip", false),
        ("gzip, br", "br, gzip", true), ("", "", true), ("zstd", "ZSTD;q=0.5", true),
    ])
    func aKeyedCodingIsStoredOnlyForClientsThatTakeIt(coding: String, acceptEncoding: String, stored: Bool) {
        let answer = HeaderList(coding.isEmpty ? [] : [(name: "Content-Encoding", value: coding)])
        let request = HeaderList(acceptEncoding.isEmpty ? [] : [(name: "Accept-Encoding", value: acceptEncoding)])
        #expect(ContentCoding.everyClientReads(answer, keyedOn: ["accept-encoding"], request: request) == stored)
    }
}
