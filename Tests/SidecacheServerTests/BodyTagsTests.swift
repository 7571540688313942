import CompressNIO
import NIOCore
import SidecacheCore
import SidecacheTestSupport
import Testing

/// DESIGN "Beyond purge rules", tags from the body: a route's `tags` read the JSON answer
/// at store time, and a purge rule's `tags` name them, so a PUT of one user purges
/// every cached list that contains that user without listing the lists.
@Suite("Tags from the response body")
struct BodyTagsTests {
    static let routes = """
    [ { "name": "users", "match": "GET /api/users/{id}", "ttl": "5m", "tags": ["user:$.id"] },
      { "name": "lists", "match": "GET /api/lists/{name}", "ttl": "5m", "tags": ["user:$.items[*].id", "team:$.team"] } ]
    """
    static let purge = #"[ { "on": "PUT /api/users/{id}", "tags": ["user:{id}"] }, { "on": "POST /api/teams", "tags": ["team:{body.name}"] } ]"#

    static func list(_ ids: [Int], team: String = "core") -> String {
        #"{"team": "\#(team)", "items": [\#(ids.map { #"{"id": \#($0)}"# }.joined(separator: ", "))]}"#
    }

    @Test func aPutOfOneUserPurgesEveryListThatContainsIt() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/api/lists/a", .json(Self.list([1, 2])))
            h.origin.on("GET", "/api/lists/b", .json(Self.list([2, 3])))
            h.origin.on("GET", "/api/lists/c", .json(Self.list([4])))
            h.origin.on("GET", "/api/users/2", .json(#"{"id": 2}"#))
            h.origin.on("PUT", "/api/users/2", .json("{}"))
            let paths = ["/api/lists/a", "/api/lists/b", "/api/lists/c", "/api/users/2"]
            for p in paths { _ = try await h.get(p) }
            for p in paths { #expect(try await h.get(p).header("X-Cache") == "HIT") }

            #expect(try await h.send("PUT", "/api/users/2", body: Array("{}".utf8)).status == 200)
            for p in ["/api/lists/a", "/api/lists/b", "/api/users/2"] {
                #expect(try await h.get(p).header("X-Cache") == "MISS", "\(p) holds user 2")
            }
            #expect(try await h.get("/api/lists/c").header("X-Cache") == "HIT", "list c does not")
        }
    }

    /// An answer its route's tags cannot be read from (not JSON, or JSON that does not
    /// parse: Python's `NaN`) is not stored: stored untagged, a PUT of a user it lists
    /// missed it. A purge by a percent-encoded id names the decoded tag, as the body's
    /// JSON string is (`caf%C3%A9` missed `user:café`).
    @Test func untaggableAnswersAreNotStoredAndEncodedIdsNameDecodedTags() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/api/lists/nan", .json(#"{"team": "x", "items": [{"id": 41, "score": NaN}]}"#))
            h.origin.on("GET", "/api/lists/text", .text("41"))
            // Ids no tag can hold, which a write can still name (`PUT /api/users/john%20doe`,
            // `PUT /api/users/9223372036854775808`): stored, those writes left the list served.
            h.origin.on("GET", "/api/lists/spaced", .json(#"{"team": "x", "items": [{"id": "john doe"}, {"id": 7}]}"#))
            h.origin.on("GET", "/api/lists/comma", .json(#"{"team": "x", "items": [{"id": "smith,jr"}]}"#))
            h.origin.on("GET", "/api/lists/huge", .json(#"{"team": "x", "items": [{"id": 9223372036854775808}]}"#))
            for p in ["/api/lists/nan", "/api/lists/text", "/api/lists/spaced", "/api/lists/comma", "/api/lists/huge"] {
                let first = try await h.get(p)
                #expect(first.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=tags-unreadable", "\(p)")
                _ = try await h.get(p)
                #expect(h.origin.count(path: p) == 2, "\(p) not stored")
            }
            h.origin.on("GET", "/api/lists/cafe", .json(#"{"team": "x", "items": [{"id": "café"}]}"#))
            h.origin.on("PUT", "/api/users/*", .json("{}"))
            _ = try await h.get("/api/lists/cafe")
            #expect(try await h.get("/api/lists/cafe").header("X-Cache") == "HIT")
            #expect(try await h.send("PUT", "/api/users/caf%C3%A9", body: Array("{}".utf8)).status == 200)
            #expect(try await h.get("/api/lists/cafe").header("X-Cache") == "MISS")
        }
    }

    /// A tag target without its value widens to the routes whose tags could carry it, as a
    /// path target widens to its subtree: a form body, or a JSON one without `name`,
    /// answered 2xx and left every list of the team served.
    @Test func aTagTargetWithoutItsValuePurgesTheRoutesThatCouldCarryIt() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { (h: ProxyHarness) async throws in
            h.origin.on("GET", "/api/lists/r", .json(Self.list([8], team: "red")))
            h.origin.on("GET", "/api/users/8", .json(#"{"id": 8}"#))
            h.origin.on("POST", "/api/teams", .json("{}"))
            for body in ["name=red", #"{"name": ["red"]}"#, #"{"name": ""}"#] {
                for p in ["/api/lists/r", "/api/users/8"] { _ = try await h.get(p) }
                #expect(try await h.get("/api/lists/r").header("X-Cache") == "HIT")
                #expect(try await h.send("POST", "/api/teams", body: Array(body.utf8)).status == 200)
                #expect(try await h.get("/api/lists/r").header("X-Cache") == "MISS", "\(body): the lists route carries team tags")
                #expect(try await h.get("/api/users/8").header("X-Cache") == "HIT", "\(body): the users route carries none")
            }
            // A value no tag can hold names nothing stored (such an answer is not stored):
            // skipped, not widened, so a write cannot empty routes with it.
            _ = try await h.get("/api/lists/r")
            #expect(try await h.send("POST", "/api/teams", body: Array(#"{"name": "red team"}"#.utf8)).status == 200)
            #expect(try await h.get("/api/lists/r").header("X-Cache") == "HIT")
        }
    }

    @Test func aTagFromARequestBodyValueAndAGzippedAnswer() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            var plain = ByteBuffer(string: Self.list([5], team: "blue"))
            let zipped = try plain.compress(with: .gzip())
            h.origin.on("GET", "/api/lists/z", .init(status: 200, headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                                                     body: .bytes(Array(zipped.readableBytesView))))
            h.origin.on("GET", "/api/lists/y", .json(Self.list([6], team: "red")))
            h.origin.on("POST", "/api/teams", .json("{}"))
            for p in ["/api/lists/z", "/api/lists/y"] { _ = try await h.get(p) }
            _ = try await h.send("POST", "/api/teams", body: Array(#"{"name": "blue"}"#.utf8))
            #expect(try await h.get("/api/lists/z").header("X-Cache") == "MISS", "tagged team:blue from its gzip body")
            #expect(try await h.get("/api/lists/y").header("X-Cache") == "HIT")
        }
    }

    /// Tags are read from all of a gzip answer, not its first member (RFC 1952 §2.2): a
    /// list whose JSON spans two members is purged by its team like any other.
    @Test func tagsFromAGzipAnswerOfSeveralMembers() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            let json = Self.list([7], team: "green")
            var members = ByteBuffer()
            for part in [String(json.prefix(10)), String(json.dropFirst(10))] {
                var plain = ByteBuffer(string: part)
                members.writeImmutableBuffer(try plain.compress(with: .gzip()))
            }
            h.origin.on("GET", "/api/lists/m", .init(status: 200, headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                                                     body: .bytes(Array(members.readableBytesView))))
            h.origin.on("POST", "/api/teams", .json("{}"))
            _ = try await h.get("/api/lists/m")
            #expect(try await h.get("/api/lists/m").header("X-Cache") == "HIT")
            _ = try await h.send("POST", "/api/teams", body: Array(#"{"name": "green"}"#.utf8))
            #expect(try await h.get("/api/lists/m").header("X-Cache") == "MISS", "tagged team:green from its second member")
        }
    }

    /// A gzip answer whose tags cannot be read (it does not inflate) is not stored, even
    /// on a route that does not compress: stored untagged, a purge by its tag would
    /// miss it and it would be served again.
    @Test func aGzipAnswerWhoseTagsCannotBeReadIsNotStored() async throws {
        let routes = #"[ { "name": "lists", "match": "GET /api/lists/{name}", "ttl": "5m", "compress": false, "tags": ["team:$.team"] } ]"#
        try await withProxy(routes: routes, purge: Self.purge) { h in
            var plain = ByteBuffer(string: Self.list([9], team: "gray"))
            var bytes = Array(try plain.compress(with: .gzip()).readableBytesView)
            bytes[bytes.count / 2] ^= 0xFF
            bytes[bytes.count / 2 + 1] ^= 0xFF
            h.origin.on("GET", "/api/lists/k", .init(status: 200, headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                                                     body: .bytes(bytes)))
            let first = try await h.get("/api/lists/k", headers: [("Accept-Encoding", "gzip")])
            #expect(first.body == bytes && first.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=content-encoding")
            #expect(try await h.get("/api/lists/k", headers: [("Accept-Encoding", "gzip")]).header("X-Cache") == "MISS")
        }
    }

    /// At most 64 tags an entry (DESIGN): an answer that would need more is passed on and
    /// not stored, since a purge by a tag it could not carry would miss it. The tags past
    /// the limit used to be dropped and the entry stored: `PUT /api/users/90` left the
    /// list holding user 90 cached.
    @Test func anAnswerWithMoreTagsThanAnEntryCarriesIsNotStored() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge) { h in
            h.origin.on("GET", "/api/lists/big", .json(Self.list(Array(1...100))))
            h.origin.on("GET", "/api/lists/small", .json(Self.list(Array(1...63))))   // and its team: 64 tags
            h.origin.on("PUT", "/api/users/*", .json("{}"))
            let first = try await h.get("/api/lists/big")
            #expect(first.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=too-many-tags")
            #expect(first.text == Self.list(Array(1...100)), "passed on whole")
            #expect(try await h.get("/api/lists/big").header("X-Cache") == "MISS")
            #expect(h.origin.count(path: "/api/lists/big") == 2, "never stored")
            _ = try await h.get("/api/lists/small")
            #expect(try await h.get("/api/lists/small").header("X-Cache") == "HIT", "64 tags: stored")
            _ = try await h.send("PUT", "/api/users/63", body: Array("{}".utf8))
            #expect(try await h.get("/api/lists/small").header("X-Cache") == "MISS", "its 64th tag purges it")
        }
    }

    /// A JSON answer whose body tags cannot be read (a coding the proxy does not decode, on
    /// a route that stores answers as sent) is not stored: it was, with its `Surrogate-Key`
    /// tags alone, and a purge by one of its body tags missed it.
    @Test func anAnswerWhoseBodyTagsCannotBeReadIsNotStored() async throws {
        let routes = #"[ { "name": "lists", "match": "GET /api/lists/{name}", "ttl": "5m", "compress": false, "tags": ["user:$.items[*].id"] } ]"#
        try await withProxy(routes: routes, purge: Self.purge) { h in
            h.origin.on("GET", "/api/lists/br", OriginResponse(headers: [("Content-Type", "application/json"), ("Content-Encoding", "br")],
                                                               body: .bytes([1, 2, 3])))
            let brotli = [("Accept-Encoding", "br")]
            let first = try await h.get("/api/lists/br", headers: brotli)
            #expect(first.header("Cache-Status") == "sidecache; fwd=uri-miss; detail=content-encoding")
            #expect(first.body == [1, 2, 3], "passed on as sent")
            #expect(try await h.get("/api/lists/br", headers: brotli).header("X-Cache") == "MISS")
        }
    }

    /// The same for `Surrogate-Key`: up to 256 distinct keys an entry, a repeated key
    /// counted once; more, and the answer is not stored.
    @Test func anAnswerWithMoreSurrogateKeysThanAnEntryCarriesIsNotStored() async throws {
        try await withProxy(routes: #"[{ "name": "k", "match": "GET /k/{n}", "ttl": "5m" }]"#) { h in
            let keys = { (n: Int) in (1...n).map { "k\($0)" }.joined(separator: " ") }
            h.origin.on("GET", "/k/many", .json("{}", headers: [("Surrogate-Key", keys(257))]))
            h.origin.on("GET", "/k/most", .json("{}", headers: [("Surrogate-Key", keys(256)), ("Surrogate-Key", "k1 k2")]))
            #expect(try await h.get("/k/many").header("Cache-Status") == "sidecache; fwd=uri-miss; detail=too-many-tags")
            #expect(try await h.get("/k/many").header("X-Cache") == "MISS")
            _ = try await h.get("/k/most")
            #expect(try await h.get("/k/most").header("X-Cache") == "HIT")
        }
    }

    /// With Redis, tags are purge scopes like any other: a PUT on one instance purges
    /// the lists the other instance filled, at once (strict).
    @Test func withRedisAPutOnOneInstancePurgesTheOthersLists() async throws {
        try await withRedisPair(routes: Self.routes, purge: Self.purge) { p in
            p.origin.on("GET", "/api/lists/a", .json(Self.list([7, 8])))
            p.origin.on("GET", "/api/lists/b", .json(Self.list([9])))
            p.origin.on("PUT", "/api/users/8", .json("{}"))
            for path in ["/api/lists/a", "/api/lists/b"] {
                _ = try await p.get(p.portA, path)
                #expect(try await p.get(p.portB, path).header("X-Cache") == "HIT")
            }
            #expect(try await p.send(p.portB, "PUT", "/api/users/8").status == 200)
            #expect(try await p.get(p.portA, "/api/lists/a").header("X-Cache") == "MISS")
            #expect(try await p.get(p.portA, "/api/lists/b").header("X-Cache") == "HIT")
            #expect(p.origin.count(path: "/api/lists/a") == 2)
        }
    }
}
