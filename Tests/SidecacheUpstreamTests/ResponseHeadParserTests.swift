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
