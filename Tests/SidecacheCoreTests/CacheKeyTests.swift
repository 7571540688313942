import Testing
@testable import SidecacheCore

/// One request's key inputs, written compactly so a table can show two requests side by side.
struct KeyInput: CustomStringConvertible, Sendable {
    var route = "r"
    var host = "example.com"
    var uri = "/a"
    var headers: [(String, String)] = []
    var identity: String?

    var description: String { "\(route) \(host)\(uri) \(headers) id=\(identity ?? "nil")" }

    func key(query: QueryKey = .all, keyHeaders: [String] = ["X-Role"]) throws -> CacheKey {
        let route = Route(name: route, pattern: try RequestPattern(parsing: "GET /*"), ttl: .fixed(.seconds(60)),
                          query: query, keyHeaders: keyHeaders)
        let target = try #require(RequestTarget(uri))
        return CacheKeyBuilder.key(route: route, host: host, target: target,
                                   headers: HeaderList(headers.map { (name: $0.0, value: $0.1) }),
                                   identity: identity?[...])
    }
}

@Suite struct CacheKeyTests {
    /// Different requests: never the same key.
    @Test(arguments: [
        (KeyInput(uri: "/a?a=1&b"), KeyInput(uri: "/a?a=1&b=")),
        (KeyInput(uri: "/a?a=1&a=2"), KeyInput(uri: "/a?a=2&a=1")),       // repeated: order kept
        // Repeated as upstreams decode names: still in the order given.
        (KeyInput(uri: "/a?%61=evil&a=good"), KeyInput(uri: "/a?a=good&%61=evil")),
        (KeyInput(uri: "/a?a%5B%5D=1&a[]=2"), KeyInput(uri: "/a?a[]=2&a%5B%5D=1")),
        (KeyInput(uri: "/a?a+b=1&a%20b=2"), KeyInput(uri: "/a?a%20b=2&a+b=1")),
        (KeyInput(uri: "/a?A=evil&a=good"), KeyInput(uri: "/a?a=good&A=evil")),          // ASP.NET: case-blind
        (KeyInput(uri: "/a?+a=evil&a=good"), KeyInput(uri: "/a?a=good&+a=evil")),        // PHP drops leading spaces
        (KeyInput(uri: "/a?a.b=x&a_b=y"), KeyInput(uri: "/a?a_b=y&a.b=x")),              // PHP: . is _
        (KeyInput(uri: "/a?a[0]=x&a[]=y"), KeyInput(uri: "/a?a[]=y&a[0]=x")),            // PHP: one array
        // `;` splits pairs for some upstreams: `b=1;a=2` holds an `a`.
        (KeyInput(uri: "/a?b=1;a=2&a=3"), KeyInput(uri: "/a?a=3&b=1;a=2")),
        (KeyInput(uri: "/a/b"), KeyInput(uri: "/a%2Fb")),
        (KeyInput(uri: "/a/b"), KeyInput(uri: "/a/B")),
        (KeyInput(uri: "/a?x=1"), KeyInput(uri: "/a?x=2")),
        (KeyInput(uri: "/a?x=1"), KeyInput(uri: "/a")),
        (KeyInput(uri: "/a?b=1"), KeyInput(uri: "/a%3Fb=1")),              // query is not part of the path
        (KeyInput(uri: "/ab?c=1"), KeyInput(uri: "/a?bc=1")),
        (KeyInput(host: "a.example"), KeyInput(host: "b.example")),
        (KeyInput(host: "example.com:8080"), KeyInput(host: "example.com")),
        (KeyInput(identity: nil), KeyInput(identity: "")),
        (KeyInput(identity: nil), KeyInput(identity: "u1")),
        (KeyInput(identity: ""), KeyInput(identity: "u1")),
        (KeyInput(identity: "u1"), KeyInput(identity: "u2")),
        (KeyInput(identity: "Bearer a"), KeyInput(identity: "bearer a")),
        (KeyInput(route: "r1"), KeyInput(route: "r2")),
        (KeyInput(headers: [("X-Role", "a,b")]), KeyInput(headers: [("X-Role", "a"), ("X-Role", "b")])),
        (KeyInput(headers: [("X-Role", "a"), ("X-Role", "b")]), KeyInput(headers: [("X-Role", "b"), ("X-Role", "a")])),
        (KeyInput(headers: []), KeyInput(headers: [("X-Role", "")])),
        (KeyInput(headers: [("X-Role", "admin")]), KeyInput(headers: [("X-Role", "user")])),
        (KeyInput(headers: [("X-Role", "admin")]), KeyInput(headers: [])),
        // Bytes shaped like the encoding's own length prefixes or separators.
        (KeyInput(uri: "/a", identity: "\u{0}\u{0}\u{0}\u{1}x"), KeyInput(uri: "/a", identity: "x")),
        (KeyInput(headers: [("X-Role", "a\u{0}\u{0}\u{0}\u{1}b")]), KeyInput(headers: [("X-Role", "a"), ("X-Role", "b")])),
        (KeyInput(headers: [("X-Role", "x")], identity: nil), KeyInput(headers: [], identity: "x")),
        (KeyInput(route: "r", host: "hx"), KeyInput(route: "rh", host: "x")),
        (KeyInput(host: "h", uri: "/a?x"), KeyInput(host: "h/a", uri: "/?x")),
    ] as [(KeyInput, KeyInput)])
    func differentRequestsDifferentKeys(a: KeyInput, b: KeyInput) throws {
        #expect(try a.key() != b.key(), "\(a) and \(b) share a key")
    }

    /// The same resource: the same key.
    @Test(arguments: [
        (KeyInput(uri: "/a?a=1&b=2"), KeyInput(uri: "/a?b=2&a=1")),        // sorted by name
        (KeyInput(uri: "/a?b=1&a=1&a=2"), KeyInput(uri: "/a?a=1&b=1&a=2")),
        (KeyInput(uri: "/a?%62=1&a=2"), KeyInput(uri: "/a?a=2&%62=1")),    // sorted as decoded
        (KeyInput(uri: "/a?b%=1&a=2"), KeyInput(uri: "/a?a=2&b%=1")),      // a stray % is itself
        (KeyInput(host: "Example.COM"), KeyInput(host: "example.com")),
        (KeyInput(headers: [("x-role", "admin")]), KeyInput(headers: [("X-ROLE", "admin")])),
        (KeyInput(headers: [("Accept", "a")]), KeyInput(headers: [("Accept", "b")])),   // not a key header
        (KeyInput(identity: "u1"), KeyInput(identity: "u1")),
    ] as [(KeyInput, KeyInput)])
    func sameResourceSameKey(a: KeyInput, b: KeyInput) throws {
        #expect(try a.key() == b.key(), "\(a) and \(b) should share a key")
    }

    @Test func onlyListIgnoresOtherParameters() throws {
        let only = QueryKey.only(["page", "limit"])
        let base = try KeyInput(uri: "/a?page=1&limit=10").key(query: only)
        #expect(try KeyInput(uri: "/a?limit=10&utm_source=x&page=1").key(query: only) == base)
        #expect(try KeyInput(uri: "/a?page=1&limit=10&pagex=3").key(query: only) == base)
        #expect(try KeyInput(uri: "/a?page=2&limit=10").key(query: only) != base)
        #expect(try KeyInput(uri: "/a?page=1").key(query: only) != base)
        #expect(try KeyInput(uri: "/a?utm=1").key(query: only) == KeyInput(uri: "/a").key(query: only))
    }

    /// A listed name in a spelling the upstream reads as it (`ids%5B%5D`, as
    /// `URLSearchParams` and axios send `ids[]`) is kept, in the key and in the fill: it
    /// was dropped from both, and the upstream's unfiltered list stored for the filter.
    @Test func onlyListKeepsEverySpellingOfAListedName() throws {
        let only = QueryKey.only(["ids[]", "page"])
        let none = try KeyInput(uri: "/a").key(query: only)
        for uri in ["/a?ids%5B%5D=1", "/a?ids[]=1", "/a?%70age=2", "/a?PAGE=2"] {
            #expect(try KeyInput(uri: uri).key(query: only) != none, "\(uri) was dropped from the key")
            let target = try #require(RequestTarget(uri))
            #expect(only.fillTarget(target, uri: uri) == uri, "\(uri) was dropped from the fill")
        }
        let target = try #require(RequestTarget("/a?utm=1&ids%5B%5D=1"))
        #expect(only.fillTarget(target, uri: "/a?utm=1&ids%5B%5D=1") == "/a?ids%5B%5D=1")
    }

    @Test func noneIgnoresQuery() throws {
        let base = try KeyInput(uri: "/a").key(query: .none)
        #expect(try KeyInput(uri: "/a?x=1").key(query: .none) == base)
        #expect(try KeyInput(uri: "/a?y=2&x=1").key(query: .none) == base)
        #expect(try KeyInput(uri: "/b?x=1").key(query: .none) != base)
        // ...while "all" keeps it.
        #expect(try KeyInput(uri: "/a?x=1").key(query: .all) != KeyInput(uri: "/a").key(query: .all))
    }

    @Test func keyHeadersInOrderOfTheRoute() throws {
        let input = KeyInput(headers: [("A", "1"), ("B", "2")])
        let swapped = KeyInput(headers: [("A", "2"), ("B", "1")])
        #expect(try input.key(keyHeaders: ["A", "B"]) != swapped.key(keyHeaders: ["A", "B"]))
        // A header the route does not key on changes nothing.
        #expect(try input.key(keyHeaders: ["A"]) == KeyInput(headers: [("A", "1"), ("B", "9")]).key(keyHeaders: ["A"]))
    }

    /// Spaces around a list's commas mean nothing; within a quoted string they are the
    /// value (the variants audit's: `"a, b"` was served `"a,b"`'s answer).
    @Test(arguments: [
        (" a ,b ", "a,b"), ("a, b", "a,b"), ("a\t,\tb", "a,b"), ("plain", "plain"),
        (#""a, b""#, #""a, b""#), (#""a, b" , c"#, #""a, b",c"#), (#"x="a\", b" , y"#, #"x="a\", b",y"#),
        (#""open, still"#, #""open, still"#), (#" "q" "#, #""q""#),
    ])
    func headerValuesAreNormalisedOutsideQuotedStrings(value: String, normalised: String) {
        #expect(normalizedFieldValue(value) == normalised)
    }

    @Test func quotedStringsThatDifferOnlyInSpacesAreTwoKeys() throws {
        let key = { (v: String) in try KeyInput(headers: [("X-Q", v)]).key(keyHeaders: ["X-Q"]) }
        #expect(try key(#""a, b""#) != key(#""a,b""#))
        #expect(try key("a, b") == key("a,b"))
    }

    @Test func keyIsDeterministicAndOpaque() throws {
        let k = try KeyInput(uri: "/secret/path?token=abc", identity: "Bearer s3cret").key()
        #expect(try k == KeyInput(uri: "/secret/path?token=abc", identity: "Bearer s3cret").key())
        let text = k.description
        #expect(text.count == 64)
        #expect(text.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(!text.contains("secret"))
        #expect(CacheKey(a: k.a, b: k.b, c: k.c, d: k.d) == k)
    }
}

/// `key.body` routes: the method, the Content-Type and the body are part of the key.
@Suite struct BodyKeyPartTests {
    func key(_ method: String, _ contentType: String?, _ body: String, keyBody: Bool = true) throws -> CacheKey {
        let route = Route(name: "search", pattern: try RequestPattern(parsing: "GET|POST /s"), ttl: .fixed(.seconds(60)), keyBody: keyBody)
        let part = Array(body.utf8).withUnsafeBytes { RequestBodyKey(method: method, contentType: contentType, body: $0) }
        return CacheKeyBuilder.key(route: route, host: "h", target: try #require(RequestTarget("/s")), headers: HeaderList(),
                                   identity: nil, body: part)
    }

    @Test func eachPartSplitsTheKey() throws {
        let base = try key("POST", "application/json", #"{"q":1}"#)
        let same = try key("POST", "application/json", #"{"q":1}"#)
        #expect(same == base)
        let others = try [key("POST", "application/json", #"{"q":2}"#), key("POST", "text/plain", #"{"q":1}"#),
                          key("POST", nil, #"{"q":1}"#), key("GET", "application/json", #"{"q":1}"#)]
        #expect(others.allSatisfy { $0 != base })
        #expect(Set(others).count == others.count)
        let emptyPost = try key("POST", "application/json", "")
        let emptyGet = try key("GET", "application/json", "")
        #expect(emptyPost != emptyGet)
    }

    /// A route without `key.body` never reads it (its requests carry no body anyway).
    @Test func routesWithoutBodyKeysIgnoreIt() throws {
        let a = try key("GET", nil, "a", keyBody: false)
        let b = try key("GET", nil, "b", keyBody: false)
        #expect(a == b)
    }
}

/// Keys are stored in Redis, which instances of two versions share during a rolling
/// upgrade: the same request must give the same key whatever version builds it. These
/// digests were computed by the code that has been storing entries; a change to how keys
/// are hashed must give them unchanged. The first is also SHA-256, by Python's hashlib, of
/// its length-prefixed parts (a big-endian UInt32 before each): `r\0headers=x-role`,
/// `example.com`, `/a`, then four zero counts (query, the key header's values, varied
/// headers, identity). The third's parts run past the kilobyte a key is gathered in.
@Suite struct StoredKeyFormatTests {
    @Test func keysAreTheDigestsStoredEntriesHave() throws {
        let long = KeyInput(uri: "/" + String(repeating: "p", count: 3000) + "?q=" + String(repeating: "v", count: 2000),
                            headers: [("X-Role", String(repeating: "r", count: 1500))], identity: String(repeating: "i", count: 1200))
        let keys = [
            try KeyInput().key(),
            try KeyInput(uri: "/a/b?z=1&a=2", headers: [("X-Role", "admin")], identity: "Bearer abc").key(),
            try long.key(),
        ]
        let route = Route(name: "v", pattern: try RequestPattern(parsing: "GET /*"), ttl: .fixed(.seconds(60)))
        let varied = CacheKeyBuilder.key(route: route, host: "Example.COM", target: try #require(RequestTarget("/x?b=2&a=1")),
                                         headers: HeaderList([(name: "Accept-Language", value: "en, de")]), identity: nil,
                                         varyHeaders: ["Accept-Language"])
        #expect((keys + [varied]).map(\.description) == [
            "43d4096acc5ebbed73d190a8be73da28ff6f9ee8d5e8d69b2f4dc65c2bb46440",
            "6c8a06dbb91194f5dd7b6b2b06152f3270bd5eb385dea36d4a3d8f9e032870e7",
            "f93961a4f67e3d65f4d1da793dec5453dd4b621c55f187e9387e780f8299d43d",
            "b0256f1e3f23761f3e8ca6e5395f807e73340f03b8a8835fe6fe8724a47a8783",
        ])
    }
}

/// The hex forms Redis key names and scope ids are spelled in: part of the stored format.
@Suite struct PaddedHexTests {
    @Test func scopeIDsAndRequestIDsAreSixteenLowercaseDigits() {
        #expect(UInt64(0).paddedHex == "0000000000000000")
        #expect(UInt64(0xabc).paddedHex == "0000000000000abc")
        #expect(UInt64.max.paddedHex == "ffffffffffffffff")
        #expect(UInt64(0x0123_4567_89ab_cdef).paddedHex == "0123456789abcdef")
        #expect(UInt64(0xfedc_ba98_7654_3210).paddedHex == "fedcba9876543210")
    }

    /// Every nibble value in every position, and random values, as `String(radix:)` spells them.
    @Test func digitsAreStringsRadixSixteenPadded() {
        func spelled(_ v: UInt64) -> String {
            let digits = String(v, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        for position in 0..<16 {
            for nibble in UInt64(0)...15 { #expect(spelled(nibble << (4 * position)) == (nibble << (4 * position)).paddedHex) }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let v = generator.next() as UInt64
            #expect(v.paddedHex == spelled(v))
            #expect(v.paddedHex(after: "p:") == "p:" + spelled(v))
        }
    }

    /// The digest's bytes in order, two digits each, as key names have always spelled it.
    @Test func aKeyIsTheHexOfItsDigestBytes() {
        let key = CacheKey(a: UInt64(littleEndian: 0x0807_0605_0403_0201), b: 0, c: .max, d: UInt64(littleEndian: 0xEF))
        #expect(key.description == "0102030405060708" + String(repeating: "0", count: 16) + String(repeating: "f", count: 16)
            + "ef" + String(repeating: "0", count: 14))
        #expect(key.hex(after: "sidecache:{3}e:") == "sidecache:{3}e:" + key.description)
    }
}

