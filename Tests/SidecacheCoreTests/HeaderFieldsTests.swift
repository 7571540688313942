import Testing
@testable import SidecacheCore

@Suite struct HeaderFieldsTests {
    @Test func lookupIsCaseInsensitiveAndOrdered() {
        var h: HeaderList = [("Vary", "a"), ("X-Role", "admin"), ("vary", "b, c")]
        #expect(h.first("VARY") == "a")
        #expect(h.all("vary") == ["a", "b, c"])      // lists are not split
        #expect(h.contains("x-role"))
        #expect(!h.contains("x-rol"))
        h.replace("VARY", with: "d")
        #expect(h.all("vary") == ["d"])
        h.remove("x-ROLE")
        #expect(h.first("x-role") == nil)
        #expect(h.lines.count == 1)
    }

    @Test(arguments: [
        ("Content-Type", "content-type", true), ("ETAG", "etag", true), ("a", "b", false), ("ab", "a", false),
        ("[", "{", false), ("@", "`", false), ("x-1", "X-1", true), ("", "", true),
    ] as [(String, String, Bool)])
    func asciiCaseInsensitive(a: String, b: String, equal: Bool) {
        #expect(a.equalsIgnoringASCIICase(b) == equal)
        #expect(b.equalsIgnoringASCIICase(a) == equal)
    }

    @Test func hopByHop() {
        #expect(HopByHop.contains("Transfer-Encoding"))
        #expect(HopByHop.contains("keep-alive"))
        #expect(!HopByHop.contains("Content-Length"))
        let tokens = HopByHop.connectionTokens(["close, X-Private", " ,Upgrade "])
        #expect(tokens == ["close", "x-private", "upgrade"])
        #expect(HopByHop.contains("X-Private", listed: ConnectionOptions(["close, X-Private", " ,Upgrade "])))
        #expect(!HopByHop.contains("X-Public", listed: ConnectionOptions(["close, X-Private"])))
        #expect(HopByHop.connectionTokens(["Keep-Alive"]) == ["keep-alive"])
        #expect(HopByHop.connectionTokens(["CLOSE"]) == ["close"])
        #expect(HopByHop.connectionTokens(["close", "x-a"]) == ["close", "x-a"])
    }

    /// Past a few options the lookup is a set's: the same answers, without case.
    @Test(arguments: [3, 4_000])
    func connectionOptionsAnswerAlikeFewOrMany(count: Int) {
        let options = ConnectionOptions([(0..<count).map { "X-Opt-\($0)" }.joined(separator: ", "), "Vary"], except: "vary")
        #expect(options.lists("x-opt-0"))
        #expect(options.lists("X-OPT-\(count - 1)"))
        #expect(!options.lists("X-Opt-\(count)"))
        #expect(!options.lists("Vary"))
        #expect(ConnectionOptions(["Vary"]).lists("vary"))
        #expect(!ConnectionOptions.none.lists("close"))
    }

    /// Read from a head's lines: a lone `keep-alive` or `close` line in place, any other
    /// line or several lines as their values would be.
    @Test func connectionOptionsOfAHeadsLines() {
        func options(_ connection: [String], except kept: String? = nil) -> ConnectionOptions {
            let lines = [(name: "Date", value: "x")] + connection.map { (name: "Connection", value: $0) } + [(name: "ETag", value: "\"e\"")]
            return ConnectionOptions(lines: lines, except: kept)
        }
        #expect(!options([]).lists("connection"))
        #expect(options(["Keep-Alive"]).lists("keep-alive"))
        #expect(!options(["Keep-Alive"]).lists("close"))
        #expect(options(["CLOSE"]).lists("close"))
        #expect(options(["close, X-Private"]).lists("x-private"))
        #expect(options(["close", "X-A"]).lists("X-a"), "a second line counts too")
        #expect(options(["keep-alive", "X-A"]).lists("keep-alive"))
        #expect(!options(["Vary"], except: "vary").lists("vary"))
        #expect(!options(["keep-alive"], except: "keep-alive").lists("keep-alive"))
        #expect(options(["Vary"]).lists("vary"))
    }

    @Test func headerNameSetsMatchByLengthIgnoringCase() {
        let set: HeaderNameSet = ["TE", "trailer", "upgrade", "proxy-authenticate"]
        #expect(set.names == ["te", "trailer", "upgrade", "proxy-authenticate"])
        for member in ["te", "Te", "TRAILER", "Upgrade", "Proxy-Authenticate"] { #expect(set.contains(member)) }
        // Same length as a member, one byte off; longer than every member; empty.
        for other in ["tf", "trailex", "upgradE2", "proxy-authenticated", "", "t", "x-very-long-header-name-indeed"] {
            #expect(!set.contains(other))
        }
        #expect(!HeaderNameSet([]).contains(""))
    }

    /// One pass answers several "is it there" questions: bit i for the set's i-th name,
    /// whatever the case and order of the fields, repeats included.
    @Test func presentFieldsAreBitsInTheSetsOrder() {
        let set: HeaderNameSet = ["cookie", "x-http-method", "authorization", "range"]
        #expect(set.position(of: "Authorization") == 2 && set.position(of: "x-http-methods") == nil)
        #expect(set.bit("RANGE") == 1 << 3 && set.bit("host") == 0)
        let fields: HeaderList = [("Host", "a"), ("AUTHORIZATION", "x"), ("Cookie", "1"), ("cookie", "2")]
        #expect(fields.present(set) == 0b101)
        #expect(HeaderList([("Host", "a")]).present(set) == 0)
    }

    @Test func safeFieldValues() {
        #expect(isSafeFieldValue("a b\tc"))
        #expect(!isSafeFieldValue("a\r\nSet-Cookie: x"))
        #expect(!isSafeFieldValue("a\nb"))
        #expect(!isSafeFieldValue("a\u{0}b"))
        #expect(" \t a b \t".trimmingSpaces() == "a b")
    }

    /// RFC 9110 §7.2 `uri-host [ ":" port ]`, RFC 3986 §3.2.2–3.
    @Test(arguments: [
        ("api.example.com", true), ("api.example.com:8080", true), ("a:", true), ("127.0.0.1:65535", true),
        ("[::1]", true), ("[::1]:8080", true), ("[2001:db8::7]", true), ("[::ffff:192.0.2.1]:80", true), ("[v1.fe:x]", true),
        ("a:1:2", false), ("a:8x", false), ("a:65536", false), ("[]", false), ("[:]", false),
        ("[a,b]", false), ("[::1", false), ("a]:80", false), ("[::1]x", false), ("[v.x]", false), ("[v1.]", false),
        (":80", false), ("", false), ("a b", false), ("\u{212A}v.local", false),
    ])
    func hostsAreReadByTheirGrammar(host: String, valid: Bool) {
        #expect(isHostFieldValue(host) == valid)
    }
}
