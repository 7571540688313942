import Testing
@testable import SidecacheUpstream

/// A transfer names its server by a parsed origin and its path as the request target;
/// whatever curl should still judge as a URL goes to it whole.
@Suite struct CurlOriginsTests {
    @Test func anOriginIsParsedOnceAndItsTargetKeptByteForByte() throws {
        let origins = CurlOrigins()
        let first = try #require(origins.split("http://127.0.0.1:8080/a/../b/%2F//c?q=1&q=2"))
        #expect(first.target == "/a/../b/%2F//c?q=1&q=2")
        let second = try #require(origins.split("http://127.0.0.1:8080/"))
        #expect(second.target == "/")
        #expect(second.handle == first.handle)
        let other = try #require(origins.split("https://[::1]:8443/x"))
        #expect(other.target == "/x")
        #expect(other.handle != first.handle)
    }

    /// An address is never looked up again; a name is, after curl's cache lifetime.
    @Test(arguments: [
        ("http://127.0.0.1:8080/a", true),
        ("https://[::1]:8443/a", true),
        ("http://[2001:db8::7]/a", true),
        ("http://localhost:8080/a", false),
        ("http://upstream.internal/a", false),
        ("http://127.0.0.1.nip.io/a", false),
    ])
    func anOriginKnowsWhetherItNamesAnAddress(url: String, namesAnAddress: Bool) throws {
        let origins = CurlOrigins()
        #expect(try #require(origins.split(url)).namesAnAddress == namesAnAddress)
        #expect(try #require(origins.split(url)).namesAnAddress == namesAnAddress, "and so when known")
    }

    @Test(arguments: [
        "http://127.0.0.1:8080",          // no target to send
        "http://127.0.0.1:8080/a b",      // curl refuses a space in a URL: it must not go out raw
        "http://127.0.0.1:8080/a\u{1}b",
        "http://127.0.0.1:8080/a\u{7F}",
        "http://127.0.0.1:8080/a#part",   // a fragment is never sent
        "127.0.0.1:8080/a",
        "http:/x/a",
    ])
    func whatCurlShouldJudgeGoesToItWhole(url: String) {
        #expect(CurlOrigins().split(url) == nil)
    }

    @Test func pastItsCapacityNewOriginsGoWholeAndKnownOnesStillSplit() {
        let origins = CurlOrigins()
        for port in 0..<CurlOrigins.capacity {
            #expect(origins.split("http://127.0.0.1:\(9000 + port)/a") != nil)
        }
        #expect(origins.split("http://127.0.0.1:8999/a") == nil)
        #expect(origins.split("http://127.0.0.1:9000/b")?.target == "/b")
    }
}
