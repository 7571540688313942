import CompressNIO
import NIOCore
import SidecacheTestSupport
import Testing
@testable import SidecacheServer

/// DESIGN "HTTP fidelity", compression: one gzip body per entry, served as stored to
/// clients that take gzip and decompressed to the others; `Accept-Encoding` never splits
/// the cache; `Vary: Accept-Encoding` always said; `no-transform` honoured; strong ETags
/// weakened on transformed answers; `Content-Length` exact.
@Suite("Compression")
struct CompressionTests {
    static let routes = #"[{ "name": "doc", "match": "GET /doc/{id}", "ttl": "5m" }]"#
    /// 4 KiB of JSON that compresses well.
    static let json = "[" + (0..<100).map { #"{"id":\#($0),"name":"user \#($0)"}"# }.joined(separator: ",") + "]"
    static let gzip = [("Accept-Encoding", "gzip, deflate, br")]

    static func gunzip(_ bytes: [UInt8]) throws -> String {
        var buffer = ByteBuffer(bytes: bytes)
        return String(buffer: try buffer.decompress(with: .gzip()))
    }

    static func gzipped(_ text: String) throws -> [UInt8] {
        var buffer = ByteBuffer(string: text)
        let out = try buffer.compress(with: .gzip())
        return Array(out.readableBytesView)
    }

    /// The fill of a client without gzip is answered from the body in hand (nothing
    /// inflated); what is stored is still the gzip form alone (the decoded form is kept,
    /// and charged, only once a plain client hits), and the later hits of both kinds of
    /// client get the same bytes as after a gzip client's fill.
    @Test func aFillForAPlainClientAnswersPlainAndStoresGzip() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/doc/2", .json(Self.json, headers: [("ETag", #""v2""#)]))
            let filled = try await h.get("/doc/2")
            #expect(filled.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            #expect(filled.header("Content-Encoding") == nil)
            #expect(filled.text == Self.json)
            #expect(Int(filled.header("Content-Length") ?? "") == Self.json.utf8.count)
            #expect(filled.header("Vary") == "Accept-Encoding")
            #expect(filled.header("ETag") == #"W/"v2""#)

            let zipped = try await h.get("/doc/2", headers: Self.gzip)
            #expect(zipped.header("X-Cache") == "HIT" && zipped.header("Content-Encoding") == "gzip")
            #expect(try Self.gunzip(zipped.body) == Self.json)
            let storedAfterFill = h.proxy.engine.store.memory.usedBytes
            let plain = try await h.get("/doc/2")
            #expect(plain.header("X-Cache") == "HIT" && plain.text == Self.json)
            #expect(h.proxy.engine.store.memory.usedBytes - storedAfterFill >= Self.json.utf8.count,
                    "the first plain hit keeps the decoded form; the fill did not")
            #expect(plain.header("Content-Length") == filled.header("Content-Length"))
            #expect(h.origin.count("GET", path: "/doc/2") == 1)
        }
    }

    @Test func storedOnceGzippedAndServedToBothKindsOfClient() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/doc/1", .json(Self.json, headers: [("ETag", #""v1""#)]))
            let zipped = try await h.get("/doc/1", headers: Self.gzip)
            #expect(zipped.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
            #expect(zipped.header("Content-Encoding") == "gzip")
            #expect(zipped.header("Vary") == "Accept-Encoding")
            #expect(zipped.header("ETag") == #"W/"v1""#, "RFC 9110 §8.8.3: the gzip bytes are not what the strong tag named")
            #expect(Int(zipped.header("Content-Length") ?? "") == zipped.body.count)
            #expect(zipped.body.count < Self.json.utf8.count / 3)
            #expect(try Self.gunzip(zipped.body) == Self.json)
            #expect(h.origin.requests.last?.header("accept-encoding") == "gzip", "a compressing route asks for gzip only")

            let plain = try await h.get("/doc/1")
            #expect(plain.header("X-Cache") == "HIT")
            #expect(plain.header("Content-Encoding") == nil)
            #expect(plain.text == Self.json)
            #expect(Int(plain.header("Content-Length") ?? "") == Self.json.utf8.count)
            #expect(plain.header("Vary") == "Accept-Encoding")
            #expect(plain.header("ETag") == #"W/"v1""#)

            let refused = try await h.get("/doc/1", headers: [("Accept-Encoding", "gzip;q=0, identity")])
            #expect(refused.header("X-Cache") == "HIT" && refused.text == Self.json, "q=0 refuses gzip")
            #expect(h.origin.count("GET", path: "/doc/1") == 1, "one entry for every Accept-Encoding")
        }
    }

    @Test func aClientWithoutGzipFillsAndGzipClientsHitTheSameEntry() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/doc/2", .json(Self.json))
            let plain = try await h.get("/doc/2")
            #expect(plain.text == Self.json && plain.header("Content-Encoding") == nil)
            #expect(h.origin.requests.last?.header("accept-encoding") == "identity")
            let zipped = try await h.get("/doc/2", headers: [("Accept-Encoding", "GZIP")])
            #expect(zipped.header("X-Cache") == "HIT" && zipped.header("Content-Encoding") == "gzip")
            #expect(try Self.gunzip(zipped.body) == Self.json)
            let head = try await h.send("HEAD", "/doc/2")
            #expect(head.body.isEmpty && Int(head.header("Content-Length") ?? "") == Self.json.utf8.count,
                    "HEAD says the decoded length")
        }
    }

    /// The upstream's own gzip is kept byte for byte; its ETag stays strong where the
    /// bytes are its own, and is weakened where they are decompressed.
    @Test func upstreamGzipIsKeptAsSent() async throws {
        try await withProxy(routes: Self.routes) { h in
            let bytes = try Self.gzipped(Self.json)
            h.origin.on("GET", "/doc/3", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                                              ("ETag", #""z""#), ("Vary", "Accept-Encoding")], body: .bytes(bytes)))
            let zipped = try await h.get("/doc/3", headers: Self.gzip)
            #expect(zipped.body == bytes && zipped.header("ETag") == #""z""#)
            #expect(zipped.headers("Vary") == ["Accept-Encoding"], "said once")
            let plain = try await h.get("/doc/3", headers: [("Accept-Encoding", "identity")])
            #expect(plain.header("X-Cache") == "HIT", "the upstream's Vary: Accept-Encoding does not split the cache")
            #expect(plain.text == Self.json && plain.header("ETag") == #"W/"z""#)
            // Its 304s name the representation it gets: a strong "z" would validate the gzip bytes.
            let plainAgain = try await h.get("/doc/3", headers: [("Accept-Encoding", "identity"), ("If-None-Match", #"W/"z""#)])
            #expect(plainAgain.status == 304 && plainAgain.header("ETag") == #"W/"z""#)
            let zippedAgain = try await h.get("/doc/3", headers: Self.gzip + [("If-None-Match", #""z""#)])
            #expect(zippedAgain.status == 304 && zippedAgain.header("ETag") == #""z""#)
            // If-Match compares strongly with the tag each client was given: the gzip
            // client's strong "z" holds; for the decoded form "z" names other bytes.
            #expect(try await h.get("/doc/3", headers: Self.gzip + [("If-Match", #""z""#)]).status == 200)
            #expect(try await h.get("/doc/3", headers: [("Accept-Encoding", "identity"), ("If-Match", #""z""#)]).status == 412)
        }
    }

    /// An upstream that sends its gzip as several members (RFC 1952 §2.2: pieces
    /// compressed apart and concatenated) has them kept as sent, and a client without
    /// gzip gets all of them decoded, its `Content-Length` the whole length: not the
    /// first member alone.
    @Test func anUpstreamGzipOfSeveralMembersIsDecodedWhole() async throws {
        try await withProxy(routes: Self.routes) { h in
            let half = Self.json.utf8.count / 2
            let first = String(Self.json.utf8.prefix(half))!, second = String(Self.json.utf8.dropFirst(half))!
            let bytes = try Self.gzipped(first) + Self.gzipped(second)
            h.origin.on("GET", "/doc/7", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                                                        body: .bytes(bytes)))
            let zipped = try await h.get("/doc/7", headers: Self.gzip)
            #expect(zipped.body == bytes)
            let plain = try await h.get("/doc/7")
            #expect(plain.header("X-Cache") == "HIT" && plain.header("Content-Encoding") == nil)
            #expect(plain.text == Self.json && Int(plain.header("Content-Length") ?? "") == Self.json.utf8.count)
            let head = try await h.send("HEAD", "/doc/7")
            #expect(Int(head.header("Content-Length") ?? "") == Self.json.utf8.count)
        }
    }

    /// DESIGN: no body over `maxBodySize` is stored or buffered whole. An upstream gzip
    /// that inflates past it (a megabyte of spaces in a few kilobytes), or does not inflate at
    /// all, is answered as it came to a client that takes gzip, refused (502) to one that
    /// would need it decoded, and stored for neither: every client without gzip would
    /// otherwise make the proxy buffer the whole inflated body again. So on a route that
    /// does not compress, which keeps gzip answers as sent.
    @Test(arguments: ["bomb", "corrupt"], [true, false])
    func anUpstreamGzipThatDoesNotDecodeWithinTheLimitIsNotStored(kind: String, compress: Bool) async throws {
        let routes = #"[{ "name": "doc", "match": "GET /doc/{id}", "ttl": "5m", "maxBodySize": "64KiB", "compress": \#(compress) }]"#
        try await withProxy(routes: routes) { h in
            var bytes = Array(try Gzip.compress(ByteBuffer(repeating: UInt8(ascii: " "), count: 1 << 20),
                                                allocator: ByteBufferAllocator()).readableBytesView)
            if kind == "corrupt" { bytes[12] ^= 0xFF; bytes[20] ^= 0xFF }
            h.origin.on("GET", "/doc/8", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                                                        body: .bytes(bytes)))
            let zipped = try await h.get("/doc/8", headers: Self.gzip)
            #expect(zipped.status == 200 && zipped.body == bytes, "\(kind)")
            #expect(zipped.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=content-encoding", "\(kind)")
            #expect(try await h.get("/doc/8", headers: Self.gzip).header("X-Cache") == "MISS", "\(kind): not stored")
            let plain = try await h.get("/doc/8")
            #expect(plain.status == 502 && plain.header("X-Cache") == "MISS", "\(kind)")
            #expect(plain.header("Cache-Status")?.hasPrefix("sidecache; fwd=uri-miss") == true, "\(kind)")
            #expect(h.origin.count("GET", path: "/doc/8") == 3, "\(kind)")
        }
    }

    @Test(arguments: [
        ("no-transform", [("Cache-Control", "max-age=60, no-transform")]),
        ("short", []),
        ("an image", [("Content-Type", "image/png")]),
    ])
    func answersThatStayIdentity(what: String, headers: [(String, String)]) async throws {
        try await withProxy(routes: Self.routes) { h in
            let body = what == "short" ? #"{"id":1}"# : Self.json
            h.origin.on("GET", "/doc/4", .json(body, headers: headers.map { (name: $0.0, value: $0.1) }))
            let first = try await h.get("/doc/4", headers: Self.gzip)
            #expect(first.header("Content-Encoding") == nil, "\(what)")
            #expect(first.text == body)
            let hit = try await h.get("/doc/4", headers: Self.gzip)
            #expect(hit.header("X-Cache") == "HIT" && hit.text == body, "stored as sent")
            // DESIGN: answers always carry `Vary: Accept-Encoding` (an image did not).
            #expect(first.headers("Vary") == ["Accept-Encoding"] && hit.headers("Vary") == ["Accept-Encoding"], "\(what)")
        }
    }

    /// A 304 names the upstream's identity bytes with its strong tag: the entry compressed
    /// here keeps its weak one.
    @Test func revalidatingACompressedEntryKeepsItsTagWeak() async throws {
        let routes = #"[{ "name": "doc", "match": "GET /doc/{id}", "ttl": "10s" }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/doc/6") { req in
                req.header("If-None-Match") == #"W/"v6""# ? OriginResponse(status: 304, headers: [("ETag", #""v6""#)])
                    : .json(Self.json, headers: [("ETag", #""v6""#)])
            }
            _ = try await h.get("/doc/6", headers: Self.gzip)
            h.clock.advance(by: .seconds(15))
            let revalidated = try await h.get("/doc/6", headers: Self.gzip)
            #expect(h.origin.requests.last?.header("if-none-match") == #"W/"v6""#)
            #expect(revalidated.header("ETag") == #"W/"v6""# && revalidated.header("Content-Encoding") == "gzip")
            #expect(try Self.gunzip(revalidated.body) == Self.json)
        }
    }

    /// `Content-Encoding: identity` (RFC 9110 reserves it for Accept-Encoding, yet
    /// upstreams send it) is a plain answer: stored gzipped once with one
    /// `Content-Encoding: gzip`, decoded for plain clients. It was stored with its line
    /// rewritten to `gzip` and a second `gzip` line beside it: clients with gzip could not
    /// read the answer, clients without got a 502, until the entry expired.
    @Test func anUpstreamSayingIdentityIsAPlainAnswer() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/doc/6", .json(Self.json, headers: [("Content-Encoding", "identity")]))
            for round in ["fill", "hit"] {
                let zipped = try await h.get("/doc/6", headers: Self.gzip)
                #expect(zipped.headers("Content-Encoding") == ["gzip"], "\(round): one coding, gzip")
                #expect(try Self.gunzip(zipped.body) == Self.json, "\(round)")
                let plain = try await h.get("/doc/6")
                #expect(plain.status == 200 && plain.header("Content-Encoding") == nil && plain.text == Self.json, "\(round)")
            }
            #expect(h.origin.count("GET", path: "/doc/6") == 1)
        }
    }

    /// Two `Content-Encoding` lines are one list: `gzip` then `br` is not gzip.
    @Test func twoCodingLinesAreOneList() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/doc/7", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                                                  ("Content-Encoding", "br")], body: .bytes([1, 2, 3])))
            let first = try await h.get("/doc/7", headers: Self.gzip)
            #expect(first.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=content-encoding")
            #expect(try await h.get("/doc/7", headers: Self.gzip).header("X-Cache") == "MISS")
        }
    }

    @Test func aCodingOtherThanGzipIsNotStored() async throws {
        try await withProxy(routes: Self.routes) { h in
            h.origin.on("GET", "/doc/5", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "br")],
                                                        body: .bytes([1, 2, 3])))
            let first = try await h.get("/doc/5", headers: Self.gzip)
            #expect(first.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=content-encoding")
            #expect(first.body == [1, 2, 3] && first.header("Content-Encoding") == "br", "passed on as sent")
        }
    }

    /// `compress: false` keyed on `Accept-Encoding`: a br answer is stored for the
    /// clients whose `Accept-Encoding` takes br, never for those who asked for gzip
    /// (an upstream that ignores what was asked had its br served to all of them).
    @Test func aRouteThatDoesNotCompressStoresACodingOnlyForClientsThatTakeIt() async throws {
        let routes = #"[{ "name": "raw", "match": "GET /raw/{id}", "ttl": "5m", "compress": false, "key": { "headers": ["Accept-Encoding"] } }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/raw/2", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "br")],
                                                        body: .bytes([1, 2, 3])))
            for _ in 0..<2 { _ = try await h.get("/raw/2", headers: [("Accept-Encoding", "gzip")]) }
            #expect(h.origin.count("GET", path: "/raw/2") == 2, "not stored for gzip clients")
            for _ in 0..<2 { _ = try await h.get("/raw/2", headers: [("Accept-Encoding", "gzip, br")]) }
            #expect(h.origin.count("GET", path: "/raw/2") == 3, "stored for clients that take br")
        }
    }

    /// `compress: false`: the upstream's answer is stored as sent, and the client's
    /// Accept-Encoding goes upstream untouched.
    @Test func aRouteThatDoesNotCompress() async throws {
        let routes = #"[{ "name": "raw", "match": "GET /raw/{id}", "ttl": "5m", "compress": false }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/raw/1", .json(Self.json))
            let first = try await h.get("/raw/1", headers: Self.gzip)
            #expect(first.header("Content-Encoding") == nil && first.header("Vary") == nil && first.text == Self.json)
            #expect(h.origin.requests.last?.header("accept-encoding") == "gzip, deflate, br")
        }
    }

    /// `compress: false`, a gzip answer kept as sent: clients without gzip get it decoded,
    /// so every answer says `Vary: Accept-Encoding` (none did: a shared cache in front
    /// could hand the gzip form to a client that cannot read it, or the reverse).
    @Test func aGzipAnswerARouteKeepsAsSentSaysItVaries() async throws {
        let routes = #"[{ "name": "raw", "match": "GET /raw/{id}", "ttl": "5m", "compress": false }]"#
        try await withProxy(routes: routes) { h in
            h.origin.on("GET", "/raw/3", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                                                        body: .bytes(try Self.gzipped(Self.json))))
            let filled = try await h.get("/raw/3", headers: Self.gzip)
            #expect(filled.header("Content-Encoding") == "gzip" && filled.header("Vary") == "Accept-Encoding")
            let plain = try await h.get("/raw/3")
            #expect(plain.header("X-Cache") == "HIT" && plain.text == Self.json)
            #expect(plain.header("Content-Encoding") == nil && plain.header("Vary") == "Accept-Encoding")
            let zipped = try await h.get("/raw/3", headers: Self.gzip)
            #expect(zipped.header("X-Cache") == "HIT" && zipped.header("Vary") == "Accept-Encoding")
            #expect(try Self.gunzip(zipped.body) == Self.json)
        }
    }

    /// The same entry revalidated: the upstream's 304 confirms it, and it is stored again
    /// (the `Vary: Accept-Encoding` the proxy said is its own, not one to key on).
    @Test func aGzipAnswerARouteKeepsAsSentIsStoredAgainAfterA304() async throws {
        let routes = #"[{ "name": "raw", "match": "GET /raw/{id}", "ttl": "10s", "compress": false }]"#
        try await withProxy(routes: routes) { h in
            let zipped = try Self.gzipped(Self.json)
            h.origin.on("GET", "/raw/4") { req in
                if req.header("If-None-Match") == #""g4""# { return OriginResponse(status: 304, headers: [("ETag", #""g4""#)]) }
                return OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip"), ("ETag", #""g4""#)],
                                      body: .bytes(zipped))
            }
            _ = try await h.get("/raw/4", headers: Self.gzip)
            h.clock.advance(by: .seconds(15))
            let revalidated = try await h.get("/raw/4", headers: Self.gzip)
            #expect(revalidated.status == 200 && revalidated.header("Cache-Status")?.contains("fwd-status=304") == true,
                    "\(revalidated.header("Cache-Status") ?? "")")
            let hit = try await h.get("/raw/4")
            #expect(hit.header("X-Cache") == "HIT" && hit.text == Self.json && hit.header("Vary") == "Accept-Encoding")
            #expect(h.origin.count("GET", path: "/raw/4") == 2)
            // Revalidated for a client without gzip this time: stored again all the same.
            h.clock.advance(by: .seconds(15))
            #expect(try await h.get("/raw/4").text == Self.json)
            let plainHit = try await h.get("/raw/4")
            #expect(plainHit.header("X-Cache") == "HIT" && plainHit.text == Self.json)
            #expect(h.origin.count("GET", path: "/raw/4") == 3)
        }
    }
}
