import SidecacheCore
import Testing

/// RFC 9213 (targeted cache-control fields) parsed as RFC 8941 Dictionaries: a field that
/// does not parse is ignored as a whole, and the next field (finally Cache-Control) applies.
@Suite struct TargetedCacheControlTests {
    @Test func validDictionaries() throws {
        let cc = try #require(CacheControl(targeted: ["max-age=60, must-revalidate"]))
        #expect(cc.maxAge == 60 && cc.mustRevalidate && !cc.noStore)
        let two = try #require(CacheControl(targeted: ["no-store", "s-maxage=30"]), "field lines are one dictionary")
        #expect(two.noStore && two.sMaxAge == 30)
        let off = try #require(CacheControl(targeted: ["no-store=?0, max-age=5"]))
        #expect(!off.noStore && off.maxAge == 5, "a Boolean false is not the directive")
        let qualified = try #require(CacheControl(targeted: [#"private="set-cookie", no-cache=("a" "b")"#]))
        #expect(qualified.isPrivate && qualified.noCache, "field-name forms count as the directive (stricter)")
    }

    /// A refusal holds whatever its value's type, and as another member's parameter (a
    /// `;` for a comma): nginx and Varnish, searching for the words, would not store.
    @Test(arguments: ["max-age=60;private", "max-age=60; no-store", "no-store=1, max-age=60", "max-age=60, no-cache=2.5",
                      "max-age=60, private=(a b);x", "s-maxage=5, a=1;no-store"])
    func refusalsHoldInAnyFormTheDictionaryAllows(value: String) throws {
        let cc = try #require(CacheControl(targeted: [value]), "\(value) parses")
        #expect(cc.noStore || cc.noCache || cc.isPrivate, "\(value)")
    }

    /// As `Cache-Control`'s delta-seconds: an entry kept 31 million years (15 digits, what
    /// an RFC 8941 Integer allows) is kept 68.
    @Test func lifetimesAreHeldTo2To31Seconds() throws {
        let cc = try #require(CacheControl(targeted: [
            "max-age=999999999999999, s-maxage=999999999999999, stale-while-revalidate=999999999999999, stale-if-error=2147483649",
        ]))
        #expect(cc.maxAge == 2_147_483_648 && cc.sMaxAge == 2_147_483_648)
        #expect(cc.staleWhileRevalidate == 2_147_483_648 && cc.staleIfError == 2_147_483_648)
        #expect(try #require(CacheControl(targeted: ["max-age=2147483647"])).maxAge == 2_147_483_647)
    }

    @Test func wrongTypedDirectivesAreIgnored() throws {
        let cc = try #require(CacheControl(targeted: [#"max-age="60", s-maxage=1.5, stale-if-error=-1, public"#]))
        #expect(cc.maxAge == nil && cc.sMaxAge == nil && cc.staleIfError == nil && cc.isPublic)
    }

    /// RFC 9651's Date (`@1`) and Display String (`%"x"`) are values of the wrong type,
    /// ignored like any other (but for a refusal, which holds); reading them once
    /// stopped the process.
    @Test func datesAndDisplayStringsAreValuesOfTheWrongType() throws {
        let cc = try #require(CacheControl(targeted: [#"max-age=@1, s-maxage=5, x=%"b", no-store=@0"#]))
        #expect(cc.maxAge == nil && cc.sMaxAge == 5 && cc.noStore)
        let headers: HeaderList = [("Cache-Control", "max-age=10"), ("CDN-Cache-Control", #"a=%"x", max-age=20"#)]
        #expect(StoragePolicy.directives(headers).maxAge == 20)
    }

    @Test(arguments: ["max-age=60,", "max-age=60;;", "Max-Age=60", "max-age=6 0", "max-age=, no-store", #"max-age="60"#, "\u{7}"])
    func invalidFieldsAreIgnoredAsAWhole(value: String) {
        #expect(CacheControl(targeted: [value]) == nil, "\(value)")
    }

    /// Sidecache-Cache-Control, else CDN-Cache-Control, else Cache-Control — skipping a
    /// targeted field that does not parse.
    @Test func precedence() {
        let headers: HeaderList = [("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=20"), ("Sidecache-Cache-Control", "max-age=30")]
        #expect(StoragePolicy.directives(headers).maxAge == 30)
        let invalidOwn: HeaderList = [("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=20"), ("Sidecache-Cache-Control", "max-age=30,")]
        #expect(StoragePolicy.directives(invalidOwn).maxAge == 20)
        let bothInvalid: HeaderList = [("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "Max-Age=20")]
        #expect(StoragePolicy.directives(bothInvalid).maxAge == 10)
    }
}
