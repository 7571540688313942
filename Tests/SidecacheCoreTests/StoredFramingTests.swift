import Testing
@testable import SidecacheCore

@Suite struct StoredFramingTests {
    static func problem(_ head: String, status: Int = 200, body: Int = 5) -> String? {
        Array(head.utf8).withUnsafeBytes { StoredFraming.problem(head: $0, status: status, bodyLength: body) }
    }

    /// Heads as the proxy writes them (see `Exchange.commit`).
    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n", 200, 5),
        ("HTTP/1.1 200 OK\r\ncontent-length:5\r\n", 200, 5),
        ("HTTP/1.1 203 Non-Authoritative Information\r\nContent-Length: 0\r\n", 203, 0),
        ("HTTP/1.1 204 No Content\r\nETag: \"x\"\r\n", 204, 0),
        ("HTTP/1.1 404\r\nContent-Length: 5\r\n", 404, 5),
    ] as [(String, Int, Int)])
    func framesItsBody(head: String, status: Int, body: Int) {
        #expect(Self.problem(head, status: status, body: body) == nil)
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n", 200, 5, "not the body's length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n", 200, 5, "not the body's length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n", 200, 5, "not the body's length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n", 200, 5, "not the body's length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n", 200, 5, "more than one"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", 200, 5, "Transfer-Encoding"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ntransfer-encoding: identity\r\n", 200, 5, "Transfer-Encoding"),
        ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", 200, 5, "no Content-Length"),
        ("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n", 204, 0, "Content-Length on a 204"),
        ("HTTP/1.1 304 Not Modified\r\n", 304, 5, "with a body"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 201, 5, "status line"),
        ("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n", 200, 5, "status line"),
        ("HTTP/1.1_200 OK\r\nContent-Length: 5\r\n", 200, 5, "status line"),
        ("HTTP/1.1 20\r\nContent-Length: 5\r\n", 200, 5, "status line"),
        ("HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n", 200, 5, "status line"),
        ("HTTP/1.1 101 Switching Protocols\r\n", 101, 0, "not a final answer"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nX: y\r\n", 200, 5, "not ended by CRLF"),
        ("HTTP/1.1 200 OK\r\nX: a\nContent-Length: 5\r\n", 200, 5, "bare CR, LF or NUL"),
        ("HTTP/1.1 200 OK\r\nX: a\u{0}b\r\nContent-Length: 5\r\n", 200, 5, "NUL"),
        ("HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 5\r\n", 200, 5, "bare CR, LF or NUL"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r", 200, 5, "not ended by CRLF"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5", 200, 5, "not ended by CRLF"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n 7\r\n", 200, 5, "not a header line"),
        ("HTTP/1.1 200 OK\r\n: 5\r\nContent-Length: 5\r\n", 200, 5, "not a header line"),
    ] as [(String, Int, Int, String)])
    func refusesFramingThatDisagreesWithTheBody(head: String, status: Int, body: Int, reason: String) {
        let problem = Self.problem(head, status: status, body: body)
        #expect(problem?.contains(reason) == true, "\(problem ?? "accepted")")
    }
}
