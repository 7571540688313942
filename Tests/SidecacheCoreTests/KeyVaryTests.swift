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

    @Test func namesMissingFromVaryGoInOneMoreLine() {
        let lines: [(name: String, value: String)] = [("Content-Type", "text/plain"), ("vary", "X-Lang , accept-encoding")]
        let out = KeyVary.advertising(["x-lang", "cookie", "authorization"], in: lines)
        #expect(out.map { "\($0.name): \($0.value)" } == ["Content-Type: text/plain", "vary: X-Lang , accept-encoding",
                                                          "Vary: cookie, authorization"])
        #expect(KeyVary.advertising(["x-lang"], in: lines).count == 2, "named already")
        #expect(KeyVary.advertising(["cookie"], in: [("Vary", "*")]).count == 1, "`*` says it all")
        #expect(KeyVary.advertising([], in: lines).count == 2)
    }

    @Test func withoutTakesNamesOutOfEveryVary() {
        let lines: [(name: String, value: String)] = [("Vary", "Cookie, X-Lang"), ("ETag", "\"a\""), ("VARY", "authorization")]
        #expect(KeyVary.without(["cookie", "authorization"], in: lines).map { "\($0.name): \($0.value)" } == ["Vary: X-Lang", "ETag: \"a\""])
        #expect(KeyVary.without([], in: lines).count == 3)
    }
}
