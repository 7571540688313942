import Testing
@testable import SidecacheUpstream

@Suite struct ResponseHeadParserTests {
    /// Feeds `lines` as curl's header callback would and returns every head completed.
    private func parse(_ lines: [String]) -> [UpstreamResponseHead] {
        var parser = ResponseHeadParser()
        return lines.compactMap { line in Array(line.utf8).withUnsafeBytes { parser.feed($0) } }
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\n", 200, "OK"),
        ("HTTP/1.0 404 Not Found\r\n", 404, "Not Found"),
        ("HTTP/1.1 204\r\n", 204, ""),
        ("HTTP/1.1 204 \r\n", 204, ""),
        ("HTTP/1.1 599 Whatever  it says\n", 599, "Whatever  it says"),
    ])
    func statusLine(line: String, status: Int, reason: String) {
        let heads = parse([line, "\r\n"])
        #expect(heads.count == 1)
        #expect(heads.first?.status == status)
        #expect(heads.first?.reason == reason)
    }

    @Test(arguments: ["HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1\r\n", "HTTP/1.1 abc OK\r\n"])
    func malformedStatusLineGivesNoHead(line: String) {
        #expect(parse([line, "X: y\r\n", "\r\n"]).isEmpty)
    }

    @Test func headersKeepOrderAndNamesAndTrimValues() throws {
        let heads = parse([
            "HTTP/1.1 200 OK\r\n",
            "Content-Type: text/plain\r\n",
            "x-lower:   spaced value \t\r\n",
            "Set-Cookie: a=1\r\n",
            "Set-Cookie: b=2\r\n",
            "Empty:\r\n",
            "\r\n",
        ])
        let head = try #require(heads.first)
        #expect(head.headers.map(\.name) == ["Content-Type", "x-lower", "Set-Cookie", "Set-Cookie", "Empty"])
        #expect(head.headers.map(\.value) == ["text/plain", "spaced value", "a=1", "b=2", ""])
    }

    @Test func dropsLinesThatAreNotHeaders() throws {
        let heads = parse([
            "HTTP/1.1 200 OK\r\n",
            "no colon here\r\n",
            " folded: continuation\r\n",
            "bad name: x\r\n",
            ": no name\r\n",
            "Nul: a\u{0}b\r\n",
            "Good: yes\r\n",
            "\r\n",
        ])
        let head = try #require(heads.first)
        #expect(head.headers.map(\.name) == ["Good"])
    }

    @Test func interimHeadsAreSkipped() throws {
        let heads = parse([
            "HTTP/1.1 100 Continue\r\n", "\r\n",
            "HTTP/1.1 103 Early Hints\r\n", "Link: </a.css>; rel=preload\r\n", "\r\n",
            "HTTP/1.1 201 Created\r\n", "Location: /x\r\n", "\r\n",
        ])
        #expect(heads.count == 1)
        let head = try #require(heads.first)
        #expect(head.status == 201)
        #expect(head.headers.map(\.name) == ["Location"])
    }
}
