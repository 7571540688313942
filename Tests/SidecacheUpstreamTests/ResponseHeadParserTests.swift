import SidecacheCore
import SidecacheTestSupport
import Testing
@testable import SidecacheUpstream

@Suite struct ResponseHeadParserTests {
    /// Feeds `lines` as curl's header callback would and returns every outcome that
    /// is not `.more` (a head, or the first refusal).
    private func parse(_ lines: [String]) -> [ResponseHeadParser.Outcome] {
        var parser = ResponseHeadParser()
        var out: [ResponseHeadParser.Outcome] = []
        for line in lines {
            let outcome = Array(line.utf8).withUnsafeBytes { parser.feed($0) }
            if outcome != .more { out.append(outcome) }
            if case .invalid = outcome { break }
        }
        return out
    }

    private func head(_ lines: [String]) throws -> UpstreamResponseHead {
        let outcomes = parse(lines)
        guard outcomes.count == 1, case .head(let head) = outcomes[0] else {
            Issue.record("expected one head, got \(outcomes)")
            throw ParseFailed()
        }
        return head
    }

    private struct ParseFailed: Error {}

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\n", 200, "OK"),
        ("HTTP/1.0 404 Not Found\r\n", 404, "Not Found"),
        ("HTTP/1.1 204\r\n", 204, ""),
        ("HTTP/1.1 204 \r\n", 204, ""),
        ("HTTP/1.1 599 Whatever  it says\n", 599, "Whatever  it says"),
    ])
    func statusLine(line: String, status: Int, reason: String) throws {
        let head = try head([line, "\r\n"])
        #expect(head.status == status)
        #expect(head.reason == reason)
    }

    @Test(arguments: ["HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1\r\n", "HTTP/1.1 abc OK\r\n",
                      "HTTP/2 200 OK\r\n", "HTTP/1.1 200 O\u{1}K\r\n", "ICY 200 OK\r\n"])
    func malformedStatusLineIsRefused(line: String) {
        #expect(parse([line, "X: y\r\n", "\r\n"]) == [.invalid("upstream sent a malformed status line")])
    }

    @Test func headersKeepOrderAndNamesAndTrimValues() throws {
        let head = try head([
            "HTTP/1.1 200 OK\r\n",
            "Content-Type: text/plain\r\n",
            "x-lower:   spaced value \t\r\n",
            "Set-Cookie: a=1\r\n",
            "Set-Cookie: b=2\r\n",
            "Empty:\r\n",
            "\r\n",
        ])
        #expect(head.headers.map(\.name) == ["Content-Type", "x-lower", "Set-Cookie", "Set-Cookie", "Empty"])
        #expect(head.headers.map(\.value) == ["text/plain", "spaced value", "a=1", "b=2", ""])
    }

    /// RFC 9112 §5.2: a proxy replaces obs-fold with SP; the folded directive is then honoured.
    @Test func foldedLinesJoinThePreviousValue() throws {
        let head = try head(["HTTP/1.1 200 OK\r\n", "Cache-Control: public,\r\n", " private\r\n", "\tmax-age=5\r\n", "\r\n"])
        #expect(head.headers.count == 1)
        #expect(head.headers[0].value == "public, private max-age=5")
    }

    /// RFC 9112 §5.1: whitespace before the colon is removed, and the field kept.
    @Test func whitespaceBeforeTheColonIsRemoved() throws {
        let head = try head(["HTTP/1.1 200 OK\r\n", "Set-Cookie : x=1\r\n", "Cache-Control\t: private\r\n", "\r\n"])
        #expect(head.headers.map(\.name) == ["Set-Cookie", "Cache-Control"])
    }

    /// Not on the framing fields: curl does not read `Content-Length : 5` as a length
    /// and reads the body to the close, while the client would be told 5 bytes; what
    /// followed them became the client's next answer.
    @Test(arguments: ["Content-Length : 5\r\n", "content-length\t: 5\r\n", "Transfer-Encoding : chunked\r\n",
                      "TRANSFER-ENCODING  :chunked\r\n"])
    func whitespaceBeforeTheColonOfAFramingFieldRefusesTheAnswer(line: String) {
        #expect(parse(["HTTP/1.1 200 OK\r\n", line, "\r\n"]) == [.invalid("upstream sent a malformed header line")])
    }

    /// Any line the parser cannot read exactly refuses the whole answer: it might
    /// have been the one that made the answer private.
    @Test(arguments: [
        "no colon here\r\n",
        "bad name: x\r\n",
        ": no name\r\n",
        "Nul: a\u{0}b\r\n",
        "Bare: a\rb\r\n",
        "Ctl: a\u{1}b\r\n",
        "Del: a\u{7F}\r\n",
        "Na(me: x\r\n",
    ])
    func anUnreadableLineRefusesTheAnswer(line: String) {
        let outcomes = parse(["HTTP/1.1 200 OK\r\n", line, "Good: yes\r\n", "\r\n"])
        #expect(outcomes.count == 1)
        guard case .invalid = outcomes.first else {
            Issue.record("\(line.debugDescription) was accepted")
            return
        }
    }

    /// Lines that are not printable ASCII take the byte-by-byte path, and are kept as sent.
    @Test func aTabOrObsTextInAValueIsKept() {
        let lines: [[UInt8]] = [Array("HTTP/1.1 200 OK\r\n".utf8), Array("X-Tab: a\tb\r\n".utf8),
                                Array("Content-Disposition: r\u{E9}sum\u{E9}\r\n".utf8),
                                [UInt8]("X-Latin: caf".utf8) + [0xE9] + [UInt8](" au lait\r\n".utf8), Array("\r\n".utf8)]
        var parser = ResponseHeadParser()
        var outcome = ResponseHeadParser.Outcome.more
        for line in lines { outcome = line.withUnsafeBytes { parser.feed($0) } }
        guard case .head(let head) = outcome else {
            Issue.record("expected a head, got \(outcome)")
            return
        }
        #expect(head.headers[0].value == "a\tb")
        #expect(head.headers[1].value == "r\u{E9}sum\u{E9}")
        var latin: [UInt8] = []
        FieldText.withBytes(of: head.headers[2].value) { latin = Array($0) }
        #expect(latin == [UInt8]("caf".utf8) + [0xE9] + [UInt8](" au lait".utf8), "a Latin-1 byte goes out as it came")
    }

    /// `isPrintableASCII` reads eight bytes a step: it must say what a byte-by-byte check
    /// says, for every byte at every place of a word and its tail, and for mixes of the
    /// bytes whose borrow or carry could spill into the next.
    @Test func printableASCIIIsToldExactly() {
        func byByte(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }
        func told(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { ResponseHeadParser.isPrintableASCII($0) } }
        var wrong = 0
        for length in 1...17 {
            for place in 0..<length {
                for byte in 0...255 {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[place] = UInt8(byte)
                    if told(bytes) != byByte(bytes) { wrong += 1 }
                }
            }
        }
        let edges: [UInt8] = [0x00, 0x01, 0x09, 0x1F, 0x20, 0x21, 0x3A, 0x7E, 0x7F, 0x80, 0xC3, 0xFE, 0xFF, 0x61]
        var random = SplitMix(seed: 13)
        var printable = 0
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...24, using: &random)).map { _ in
                Bool.random(using: &random) ? UInt8(ascii: "a") : edges.randomElement(using: &random)!
            }
            if told(bytes) != byByte(bytes) { wrong += 1 }
            if byByte(bytes) { printable += 1 }
        }
        #expect(wrong == 0)
        #expect(printable > 1000 && printable < 19_000, "both answers were asked for: \(printable)")
    }

    @Test func tokenCharactersAreRFC9110s() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        #expect((0...255).filter { UInt8($0).isTokenCharacter != tchar.contains(UInt8($0)) } == [])
    }

    @Test func aHeadStartingWithAFoldIsRefused() {
        #expect(parse(["HTTP/1.1 200 OK\r\n", " folded: continuation\r\n", "\r\n"])
            == [.invalid("upstream head starts with a folded line")])
    }

    /// RFC 9112 §6.3: lengths the proxy and curl could read differently.
    @Test(arguments: [
        (["Content-Length: 5", "Content-Length: 40"], "upstream sent more than one Content-Length"),
        (["Content-Length: 5", "Content-Length: 5"], "upstream sent more than one Content-Length"),
        (["Content-Length: 5, 5"], "upstream sent an invalid Content-Length"),
        (["Content-Length: 5abc"], "upstream sent an invalid Content-Length"),
        (["Content-Length: -1"], "upstream sent an invalid Content-Length"),
        (["Content-Length: +5"], "upstream sent an invalid Content-Length"),
        (["Content-Length:"], "upstream sent an invalid Content-Length"),
        (["Content-Length: 99999999999999999999"], "upstream sent an invalid Content-Length"),
        (["Content-Length: 5", "Transfer-Encoding: chunked"], "upstream sent both Content-Length and Transfer-Encoding"),
        (["Transfer-Encoding: gzip, chunked"], "upstream sent an unsupported Transfer-Encoding"),
        (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], "upstream sent more than one Transfer-Encoding"),
    ])
    func ambiguousFramingIsRefused(lines: [String], why: String) {
        let outcomes = parse(["HTTP/1.1 200 OK\r\n"] + lines.map { $0 + "\r\n" } + ["\r\n"])
        #expect(outcomes == [.invalid(why)])
    }

    @Test func plainFramingPasses() throws {
        #expect(try head(["HTTP/1.1 200 OK\r\n", "content-length: 12\r\n", "\r\n"]).status == 200)
        #expect(try head(["HTTP/1.1 200 OK\r\n", "Transfer-Encoding: Chunked\r\n", "\r\n"]).status == 200)
    }

    @Test func anOversizedHeadIsRefused() {
        let line = "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n"
        let outcomes = parse(["HTTP/1.1 200 OK\r\n"] + Array(repeating: line, count: 70) + ["\r\n"])
        #expect(outcomes == [.invalid("upstream sent a head over 65536 bytes")])
    }

    @Test func interimHeadsAreReportedThenTheFinalOne() throws {
        let outcomes = parse([
            "HTTP/1.1 100 Continue\r\n", "\r\n",
            "HTTP/1.1 103 Early Hints\r\n", "Link: </a.css>; rel=preload\r\n", "\r\n",
            "HTTP/1.1 201 Created\r\n", "Location: /x\r\n", "\r\n",
        ])
        #expect(outcomes == [
            .interim(UpstreamResponseHead(status: 100, reason: "Continue", headers: [])),
            .interim(UpstreamResponseHead(status: 103, reason: "Early Hints", headers: [(name: "Link", value: "</a.css>; rel=preload")])),
            .head(UpstreamResponseHead(status: 201, reason: "Created", headers: [(name: "Location", value: "/x")])),
        ])
    }

    /// Answers after which curl's kept-alive connection may hold bytes of this exchange
    /// (`ActiveTransfer.leavesConnectionInDoubt`): the connection is then not reused.
    @Test(arguments: [
        (204, [("Content-Length", "93")], true),
        (304, [("Transfer-Encoding", "chunked")], true),
        (304, [("Content-Length", "93")], true),   // the length of the answer it stands for
        (204, [("Content-Length", "0")], true),   // a body may come all the same, later
        (304, [("ETag", "\"a\"")], true),
        (200, [("Content-Length", "5")], false),
        (401, [("Content-Length", "5")], false),
        (404, [("Content-Length", "5")], false),
        (302, [("Location", "/login")], false),
    ])
    func aConnectionIsInDoubtAfter(status: Int, headers: [(String, String)], inDoubt: Bool) {
        let head = UpstreamResponseHead(status: status, reason: "", headers: headers.map { (name: $0.0, value: $0.1) })
        #expect(ActiveTransfer.leavesConnectionInDoubt(head) == inDoubt)
    }
}
