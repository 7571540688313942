import NIOPosix
import Testing
import SidecacheCore
@testable import SidecacheServer
import SidecacheTestSupport

@Suite("Surrogate-Key tags")
struct TagTests {
    @Test func aTagPurgeDropsEveryEntryCarryingIt() async throws {
        try await withProxy(routes: #"[{ "name": "p", "match": "GET /p/{id}", "ttl": "5m" }]"#) { h in
            h.origin.on("GET", "/p/1", .json("{}", headers: [("Surrogate-Key", "product-1 catalog")]))
            h.origin.on("GET", "/p/2", .json("{}", headers: [("Surrogate-Key", "product-2  catalog")]))
            h.origin.on("GET", "/p/3", .json("{}"))
            for p in ["/p/1", "/p/2", "/p/3"] { _ = try await h.get(p) }
            _ = h.proxy.engine.purge([.tag("product-1")], reason: "test", source: .admin, on: MultiThreadedEventLoopGroup.singleton.next())
            #expect(try await h.get("/p/1").header("X-Cache") == "MISS")
            #expect(try await h.get("/p/2").header("X-Cache") == "HIT")
            _ = h.proxy.engine.purge([.tag("catalog")], reason: "test", source: .admin, on: MultiThreadedEventLoopGroup.singleton.next())
            #expect(try await h.get("/p/2").header("X-Cache") == "MISS")
            #expect(try await h.get("/p/3").header("X-Cache") == "HIT")
        }
    }

    /// DESIGN's admin API: `POST /purge {"tag": …}` drops every entry carrying the tag,
    /// through HTTP, and says what it dropped. (The test-quality audit: over HTTP only an
    /// unused tag was tried.)
    @Test func anAdminTagPurgeOverHTTPDropsEveryEntryCarryingIt() async throws {
        try await withProxy(routes: #"[{ "name": "p", "match": "GET /p/{id}", "ttl": "5m" }]"#, extra: adminJSON) { h in
            h.origin.on("GET", "/p/1", .json("{}", headers: [("Surrogate-Key", "product-1 catalog")]))
            h.origin.on("GET", "/p/2", .json("{}", headers: [("Surrogate-Key", "catalog")]))
            h.origin.on("GET", "/p/3", .json("{}"))
            for p in ["/p/1", "/p/2", "/p/3"] { _ = try await h.get(p) }
            let r = try await h.admin("POST", "/purge", json: #"{"tag": "catalog"}"#)
            #expect(r.status == 200)
            #expect(r.json["l1Entries"] == .integer(2), "\(r.text)")
            #expect(try await h.get("/p/1").header("X-Cache") == "MISS")
            #expect(try await h.get("/p/2").header("X-Cache") == "MISS")
            #expect(try await h.get("/p/3").header("X-Cache") == "HIT")
        }
    }

    @Test func tagsParseFromSurrogateKey() {
        let headers: HeaderList = [("Surrogate-Key", " a  b\tc "), ("surrogate-key", "d")]
        #expect(PurgeScope.tags(headers) == ["a", "b", "c", "d"])
        #expect(PurgeScope.tagIDs(["a"]) == [PurgeScope.tag("a").id])
    }

    /// The tags audit's: a Latin-1 `Surrogate-Key: caf\xE9` (held byte for byte,
    /// `FieldText`) tagged an entry no admin purge or rule could name; it is `café`, as
    /// obs-text's ISO-8859-1 reads, and so is the upstream's own `Sidecache-Purge`.
    @Test func aLatin1TagIsItsCharacters() {
        let latin1 = ([0x63, 0x61, 0x66, 0xE9] as [UInt8]).withUnsafeBytes { FieldText.decode($0) }
        let headers = HeaderList([(name: "Surrogate-Key", value: latin1 + " x")])
        #expect(PurgeScope.tags(headers) == ["café", "x"])
        #expect(UpstreamPurge.scopes(["tag=" + latin1], routes: RouteTable([])).scopes == [.tag("café")])
        #expect(PurgeScope.tags(HeaderList([(name: "Surrogate-Key", value: "café \u{10FF01}")])) == ["café", "\u{10FF01}"])
    }
}
