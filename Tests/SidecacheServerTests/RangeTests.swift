import CompressNIO
import SidecacheCore
import NIOCore
import SidecacheTestSupport
import Testing

/// DESIGN "HTTP fidelity", ranges (RFC 9110 §14, §13.1.5, §15.3.7, §15.5.17): a single
/// byte range is cut from a complete stored answer; a range miss fills the whole answer
/// first; If-Range; 416; the range applies to the representation served.
@Suite("Ranges from the cache")
struct RangeTests {
    static let routes = #"[{ "name": "file", "match": "GET /files/{id}", "ttl": "5m" }]"#
    /// Not compressible, so the stored bytes are the upstream's.
    static let bytes = OriginResponse.generatedBytes(count: 5000)
    static func origin() -> OriginResponse {
        OriginResponse(headers: [("Content-Type", "application/octet-stream"), ("ETag", #""f1""#),
                                 ("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT")], body: .generated(count: 5000))
    }

    @Test func aRangeMissFillsTheWholeAnswerAndAnswersThePart() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/files/1", Self.origin())
            let part = try await h.get("/files/1", headers: [("Range", "bytes=100-199")])
            #expect(part.status == 206)
            #expect(part.header("Content-Range") == "bytes 100-199/5000")
            #expect(part.body == Array(Self.bytes[100...199]) && part.header("Content-Length") == "100")
            #expect(part.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            #expect(h.origin.requests.last?.header("range") == nil, "the fill asked for the whole answer")

            let whole = try await h.get("/files/1")
            #expect(whole.status == 200 && whole.header("X-Cache") == "HIT" && whole.body == Self.bytes)
            let suffix = try await h.get("/files/1", headers: [("Range", "bytes=-10")])
            #expect(suffix.status == 206 && suffix.header("Content-Range") == "bytes 4990-4999/5000")
            #expect(suffix.body == Array(Self.bytes[4990...]) && suffix.header("X-Cache") == "HIT")
            let open = try await h.get("/files/1", headers: [("Range", "bytes=4000-")])
            #expect(open.body == Array(Self.bytes[4000...]) && open.header("ETag") == #""f1""#)
            #expect(h.origin.count("GET", path: "/files/1") == 1)
        }
    }

    @Test func unsatisfiableSeveralAndInvalidRanges() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/files/2", Self.origin())
            _ = try await h.get("/files/2")
            let beyond = try await h.get("/files/2", headers: [("Range", "bytes=5000-")])
            #expect(beyond.status == 416 && beyond.header("Content-Range") == "bytes */5000" && beyond.body.isEmpty)
            #expect(beyond.header("Date").flatMap(HTTPDate.parse) != nil, "the proxy's own answer is dated")
            let several = try await h.get("/files/2", headers: [("Range", "bytes=0-1, 10-11")])
            #expect(several.status == 200 && several.body == Self.bytes, "several ranges: the whole answer (§14.2)")
            let invalid = try await h.get("/files/2", headers: [("Range", "bytes=9-3")])
            #expect(invalid.status == 200 && invalid.body.count == 5000, "an invalid range is ignored")
            let head = try await h.send("HEAD", "/files/2", headers: [("Range", "bytes=0-9")])
            #expect(head.status == 200, "HEAD ignores Range")
        }
    }

    @Test func ifRangeDecidesBetweenThePartAndTheWhole() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/files/3", Self.origin())
            _ = try await h.get("/files/3")
            let same = try await h.get("/files/3", headers: [("Range", "bytes=0-9"), ("If-Range", #""f1""#)])
            #expect(same.status == 206 && same.body == Array(Self.bytes[0...9]))
            let changed = try await h.get("/files/3", headers: [("Range", "bytes=0-9"), ("If-Range", #""f0""#)])
            #expect(changed.status == 200 && changed.body == Self.bytes, "another version: the whole answer")
            let weak = try await h.get("/files/3", headers: [("Range", "bytes=0-9"), ("If-Range", #"W/"f1""#)])
            #expect(weak.status == 200, "a weak tag never matches If-Range")
            let date = try await h.get("/files/3", headers: [("Range", "bytes=0-9"), ("If-Range", "Tue, 01 Dec 2026 10:00:00 GMT")])
            #expect(date.status == 206)
        }
    }

    /// The range is of the bytes this client gets: the gzip bytes when it takes gzip.
    @Test func aRangeOfTheGzipRepresentation() async throws {
        let json = "[" + (0..<200).map { #"{"id":\#($0)}"# }.joined(separator: ",") + "]"
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/files/4", .json(json))
            let zipped = try await h.get("/files/4", headers: [("Accept-Encoding", "gzip")])
            #expect(zipped.header("Content-Encoding") == "gzip")
            let part = try await h.get("/files/4", headers: [("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")])
            #expect(part.status == 206 && part.header("Content-Encoding") == "gzip")
            #expect(part.body == Array(zipped.body[0...9]) && part.header("Content-Range") == "bytes 0-9/\(zipped.body.count)")
            let plain = try await h.get("/files/4", headers: [("Range", "bytes=0-9")])
            #expect(plain.status == 206 && plain.header("Content-Encoding") == nil && plain.text == String(json.prefix(10)))
            #expect(plain.header("Content-Range") == "bytes 0-9/\(json.utf8.count)")
        }
    }

    /// A date names the upstream's version, not the bytes of the gzip the proxy stored:
    /// those are its own when a plain client led the fill and the upstream's when a gzip
    /// client did, so a range by date of one fill's and the rest of the next's made a
    /// body that did not inflate. The gzip client gets the whole answer; the plain one
    /// (the upstream's bytes either way) still gets its range.
    @Test func aDateIfRangeDoesNotHoldTheProxysGzip() async throws {
        let json = "[" + (0..<200).map { #"{"id":\#($0)}"# }.joined(separator: ",") + "]"
        let modified = "Tue, 01 Dec 2026 10:00:00 GMT"
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/files/6", .json(json, headers: [("Last-Modified", modified)]))
            _ = try await h.get("/files/6")
            let zipped = try await h.get("/files/6", headers: [("Accept-Encoding", "gzip"), ("Range", "bytes=100-"), ("If-Range", modified)])
            #expect(zipped.header("X-Cache") == "HIT" && zipped.header("Content-Encoding") == "gzip")
            #expect(zipped.status == 200 && zipped.header("Content-Range") == nil, "the whole gzip answer")
            let plain = try await h.get("/files/6", headers: [("Range", "bytes=0-9"), ("If-Range", modified)])
            #expect(plain.status == 206 && plain.text == String(json.prefix(10)))
        }
    }

    @Test func aPartialAnswerFromTheUpstreamIsNeverStored() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/files/5", OriginResponse(status: 206, headers: [("Content-Range", "bytes 0-1/2")], body: .bytes([1, 2])))
            let first = try await h.get("/files/5")
            #expect(first.status == 206 && first.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=status")
            _ = try await h.get("/files/5")
            #expect(h.origin.count("GET", path: "/files/5") == 2)
        }
    }
}
