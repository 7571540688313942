import Testing
@testable import SidecacheCore

@Suite struct KeyVaryTests {
    @Test func aRouteNamesTheFieldsItsKeyReads() throws {
        let pattern = try RequestPattern(parsing: "GET /a")
        #expect(Route(name: "r", pattern: pattern, ttl: .fixed(.seconds(1))).keyVary.isEmpty)
        #expect(Route(name: "r", pattern: pattern, ttl: .fixed(.seconds(1)), keyHeaders: ["X-Lang", "X-Tier"],
                      identity: .header("X-User")).keyVary == ["x-lang", "x-tier", "x-user"])
        #expect(Route(name: "r", pattern: pattern, ttl: .fixed(.seconds(1)), identity: .cookie("sid")).keyVary == ["cookie"])
        #expect(Route(name: "r", pattern: pattern, ttl: .fixed(.seconds(1)), keyHeaders: ["cookie"],
                      claims: ClaimsKey(names: ["role"], from: .cookie("tok"))).keyVary == ["cookie"])
        #expect(Route(name: "r", pattern: pattern, ttl: .fixed(.seconds(1)),
                      claims: ClaimsKey(names: ["role"], from: .header("Authorization"))).keyVary == ["authorization"])
    }

    /// One `Vary` line, where the first was: nginx 1.22 caching in front reads the last alone.
    @Test func namesMissingFromVaryJoinItInOneLine() {
        let lines: [(name: String, value: String)] = [("Content-Type", "text/plain"), ("vary", "X-Lang , accept-encoding"), ("ETag", "\"a\"")]
        let show = { (lines: [(name: String, value: String)]) in lines.map { "\($0.name): \($0.value)" } }
        func advertising(_ names: [String], in lines: [(name: String, value: String)]) -> [(name: String, value: String)] {
            var lines = lines
            KeyVary.advertise(names, in: &lines)
            return lines
        }
        #expect(show(advertising(["x-lang", "cookie", "authorization"], in: lines))
                == ["Content-Type: text/plain", "Vary: X-Lang, accept-encoding, cookie, authorization", "ETag: \"a\""])
        #expect(show(advertising(["x-lang"], in: lines)) == show(lines), "named already: unchanged")
        #expect(show(advertising([], in: lines)) == show(lines))
        #expect(show(advertising(["Accept-Encoding"], in: [("ETag", "\"a\"")])) == ["ETag: \"a\"", "Vary: Accept-Encoding"])
        let two: [(name: String, value: String)] = [("Vary", "Origin"), ("Date", "x"), ("Vary", "origin, X-Lang")]
        #expect(show(advertising([], in: two)) == ["Vary: Origin, X-Lang", "Date: x"], "lines joined, members once")
        #expect(show(advertising(["cookie"], in: [("Vary", "*")])) == ["Vary: *"], "`*` says it all")
        #expect(show(advertising(["cookie"], in: [("Vary", "X-A"), ("Vary", "*")])) == ["Vary: *"])
    }

    @Test func withoutTakesNamesOutOfEveryVary() {
        let lines: [(name: String, value: String)] = [("Vary", "Cookie, X-Lang"), ("ETag", "\"a\""), ("VARY", "authorization")]
        #expect(KeyVary.without(["cookie", "authorization"], in: lines).map { "\($0.name): \($0.value)" } == ["Vary: X-Lang", "ETag: \"a\""])
        #expect(KeyVary.without([], in: lines).count == 3)
    }
}
