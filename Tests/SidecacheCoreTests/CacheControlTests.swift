import Testing
@testable import SidecacheCore

@Suite struct CacheControlTests {
    @Test func flags() {
        let cc = CacheControl(["No-Store, PRIVATE, no-cache, Public, must-revalidate, proxy-revalidate, only-if-cached"])
        #expect(cc.noStore && cc.isPrivate && cc.noCache && cc.isPublic)
        #expect(cc.mustRevalidate && cc.proxyRevalidate && cc.onlyIfCached)
        #expect(!cc.isEmpty)
        #expect(CacheControl([]).isEmpty)
        #expect(CacheControl(["", " , ,"]).isEmpty)
    }

    @Test(arguments: [
        // field values, max-age, s-maxage
        (["max-age=60"], 60, nil),
        (["MAX-AGE=60"], 60, nil),
        (["Max-Age=60, S-MaxAge=10"], 60, 10),
        (["max-age=\"60\""], 60, nil),
        (["max-age = 60"], 60, nil),
        (["max-age=abc"], 0, nil),              // invalid: errs toward stale
        (["max-age=-5"], 0, nil),
        (["max-age=1.5"], 0, nil),
        (["max-age="], 0, nil),
        (["max-age"], 0, nil),
        (["max-age=60, max-age=30"], 30, nil),  // duplicates: the minimum
        (["max-age=30", "max-age=60"], 30, nil),
        (["max-age=60, max-age=x"], 0, nil),
        (["s-maxage=5, s-maxage=50"], nil, 5),
        (["max-age=99999999999999999999999"], deltaSecondsCeiling, nil),   // RFC 9111 §1.2.2: 2^31
        (["public"], nil, nil),
    ] as [([String], Int64?, Int64?)])
    func deltaSeconds(values: [String], maxAge: Int64?, sMaxAge: Int64?) {
        let cc = CacheControl(values)
        #expect(cc.maxAge == maxAge)
        #expect(cc.sMaxAge == sMaxAge)
    }

    @Test func multipleFieldsCombine() {
        let cc = CacheControl(["public", "max-age=10", "stale-while-revalidate=30, stale-if-error=600"])
        #expect(cc.isPublic)
        #expect(cc.maxAge == 10)
        #expect(cc.staleWhileRevalidate == 30)
        #expect(cc.staleIfError == 600)
        #expect(!cc.noStore)
    }

    @Test func quotedValuesMayHoldCommasAndEscapes() {
        let cc = CacheControl(["private=\"set-cookie, x-foo\", max-age=5, no-cache=\"a\\\"b, c\", s-maxage=7"])
        #expect(cc.isPrivate)
        #expect(cc.noCache)
        #expect(cc.maxAge == 5)
        #expect(cc.sMaxAge == 7)
        #expect(!cc.noStore)   // "x-foo" inside the quotes is not a directive
    }

    @Test func directivesAreSplitTrimmedAndUnquoted() {
        var items: [(name: String, value: String?)] = []
        CacheControl.forEachDirective(" Max-Age = 5 ,PRIVATE=\"x, \\\"y\" junk, no-store,, =7, s-maxage=\"9") { name, value in
            items.append((String(decoding: name, as: UTF8.self), value.map { String(decoding: $0, as: UTF8.self) }))
        }
        // Names as sent (`apply` matches them in any case); an empty one only before a value.
        #expect(items.map(\.name) == ["Max-Age", "PRIVATE", "no-store", "", "s-maxage"])
        #expect(items.map(\.value) == ["5", "x, \"y", nil, "7", "9"])
    }

    /// Every directive's name is matched in any case, and only whole: a longer or shorter
    /// name is another directive.
    @Test func everyDirectiveIsKnownInAnyCase() {
        let cc = CacheControl(["NO-STORE, No-Cache, PRIVATE, Public, Must-Revalidate, PROXY-REVALIDATE, Only-If-Cached",
                               "NO-TRANSFORM, Max-Age=1, S-MAXAGE=2, Stale-While-Revalidate=3, STALE-IF-ERROR=4, Min-Fresh=5, MAX-STALE=6"])
        #expect(cc.noStore && cc.noCache && cc.isPrivate && cc.isPublic && cc.mustRevalidate && cc.proxyRevalidate)
        #expect(cc.onlyIfCached && cc.noTransform)
        #expect([cc.maxAge, cc.sMaxAge, cc.staleWhileRevalidate, cc.staleIfError, cc.minFresh, cc.maxStale] == [1, 2, 3, 4, 5, 6])
        #expect(CacheControl(["no-stores, max-ages=5, no-stor, public-"]).isEmpty)
    }

    /// A `;` for a comma, a missing comma or a fold hides directives from the parse;
    /// the ones that forbid storing still count (nginx and Varnish look for the words).
    @Test(arguments: [
        ("private; max-age=60", "private"), ("public private", "private"), ("private max-age=60", "private"),
        ("max-age=60 private", "private"), ("no-store; no-cache", "no-store"), ("no-store; no-cache", "no-cache"),
        ("public, private max-age=5", "private"), ("max-age=5;no-store", "no-store"), ("s-maxage=5 NO-CACHE", "no-cache"),
        // Glued to punctuation a token may hold.
        ("'private'", "private"), ("private.", "private"), ("public+no-store", "no-store"), ("max-age=60, private_x", "private"),
        // In an extension's value, or after a `=` with no name: nginx searches the text.
        ("max-age=30, x=private", "private"), ("max-age=30, x=\"private\"", "private"), ("ext=\"private", "private"),
        ("=private", "private"), ("max-age=3, x-ext=\"no-store\"", "no-store"),
    ])
    func refusalsHiddenInAMalformedDirectiveStillCount(_ field: String, _ refusal: String) {
        let cc = CacheControl([field])
        let found = ["private": cc.isPrivate, "no-store": cc.noStore, "no-cache": cc.noCache]
        #expect(found[refusal] == true, "\(field): \(refusal) lost")
    }

    @Test func unknownDirectivesIgnored() {
        let cc = CacheControl(["immutable, foo=bar, x-ext=\"a b\", max-age=3"])
        #expect(cc == { var c = CacheControl(); c.maxAge = 3; return c }())
    }

    @Test func requestDirectives() {
        let cc = CacheControl(["min-fresh=20, max-stale"])
        #expect(cc.minFresh == 20)
        #expect(cc.maxStale == .max)
        #expect(CacheControl(["max-stale=15"]).maxStale == 15)
    }
}

@Suite struct HTTPDateTests {
    static let instant = Timestamp(seconds: 784_111_777)

    @Test(arguments: [
        "Sun, 06 Nov 1994 08:49:37 GMT",   // IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  // RFC 850
        "Sun Nov  6 08:49:37 1994",        // asctime
        "Sun Nov 6 08:49:37 1994",
        "sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 NOV 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",    // not the fixed layout: read by the general path
    ])
    func threeFormsOneInstant(text: String) {
        #expect(HTTPDate.parse(text) == Self.instant)
    }

    @Test(arguments: [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Sat, 29 Feb 2020 23:59:59 GMT", 1_583_020_799),
        ("Fri, 31 Dec 1999 23:59:59 GMT", 946_684_799),
        ("Tuesday, 01-Jan-30 00:00:00 GMT", 1_893_456_000),   // two-digit year < 70: 20xx
        ("Wed, 18 May 2033 03:33:20 GMT", 2_000_000_000),
    ] as [(String, Int64)])
    func knownInstants(text: String, seconds: Int64) {
        #expect(HTTPDate.parse(text) == Timestamp(seconds: seconds))
    }

    @Test(arguments: [
        "", "0", "-1", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37:01 GMT", "Sun, xx Nov 1994 08:49:37 GMT",
        // The fixed 29-byte layout with one part wrong.
        "Sun, 06 Nov 1994 08:49:37 GMX", "Sun, 06 N0v 1994 08:49:37 GMT",
        "Sun, 06 Nov 19x4 08:49:37 GMT", "Sun, 06 Nov 1994 08-49:37 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
        // Years past four digits overflowed the day arithmetic and stopped the process.
        "Sun, 06 Nov 999999999999 08:49:37 GMT", "Sun Nov  6 08:49:37 999999999999",
        "Sunday, 06-Nov-99999999999999999 08:49:37 GMT", "Sun, 06 Nov 10000 08:49:37 GMT",
    ])
    func garbage(text: String) {
        #expect(HTTPDate.parse(text) == nil)
    }

    @Test(arguments: [0, 784_111_777, 951_782_400, 1_583_020_799, 1_700_000_000, 4_102_444_800] as [Int64])
    func formatRoundTrips(seconds: Int64) {
        let t = Timestamp(seconds: seconds)
        let text = HTTPDate.format(t)
        #expect(HTTPDate.parse(text) == t, "\(text)")
    }

    @Test func formatIsIMFFixdate() {
        #expect(HTTPDate.format(Self.instant) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(Timestamp(milliseconds: 999)) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(Timestamp(seconds: 1_583_020_799)) == "Sat, 29 Feb 2020 23:59:59 GMT")
    }
}
