import SidecacheCore
import Testing

/// The head of a gzip entry served decompressed (DESIGN "HTTP fidelity", compression;
/// RFC 9110 §8.8.3: a transformed representation's strong ETag becomes weak).
@Suite struct DecodedHeadTests {
    static func rewritten(_ stored: String) -> String? {
        var out: [UInt8] = []
        let ok = Array(stored.utf8).withUnsafeBytes { raw in DecodedHead.rewrite(raw) { out.append(contentsOf: $0) } }
        return ok ? String(decoding: out, as: UTF8.self) : nil
    }

    @Test func theCodingAndTheLengthGoAndAStrongETagTurnsWeak() {
        let stored = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"c\"\r\nContent-Encoding: gzip\r\n"
            + "Vary: Accept-Encoding\r\nContent-Length: 20\r\n"
        #expect(Self.rewritten(stored) == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: W/\"c\"\r\nVary: Accept-Encoding\r\n")
    }

    @Test func namesInAnyCaseAWeakETagAsItIsAndNoSpaceAfterTheColon() {
        #expect(Self.rewritten("HTTP/1.1 203 Fine\r\ncontent-encoding: gzip\r\nETAG: W/\"w\"\r\nCONTENT-LENGTH: 3\r\nX-A: 1\r\n")
            == "HTTP/1.1 203 Fine\r\nETAG: W/\"w\"\r\nX-A: 1\r\n")
        #expect(Self.rewritten("HTTP/1.1 200 OK\r\netag:\"s\"\r\n") == "HTTP/1.1 200 OK\r\netag:W/\"s\"\r\n")
    }

    @Test(arguments: ["", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r\nno colon\r\n", "HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n",
                      "HTTP/1.1 200 OK\r\n\r\nA: 1\r\n"])
    func aHeadThisProxyDoesNotWriteIsRefused(stored: String) {
        #expect(Self.rewritten(stored) == nil, "\(stored.debugDescription)")
    }
}
