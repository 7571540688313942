import Glibc
import Testing
import SidecacheTestSupport

/// A forwarded answer whose head, body and end reach the proxy together leaves in one
/// write: one TCP segment to the client, not one per part (issue 13). The kernel's own
/// count of data segments received on the client's socket is the witness.
@Suite("Forwarded answers leave in one write")
struct WriteGatheringTests {
    struct Answer: Sendable, CustomTestStringConvertible {
        let name: String
        /// What the origin sends, in one write.
        let upstream: String
        /// How the proxy's answer ends.
        let ending: String
        var testDescription: String { name }
    }

    private static let body = String(repeating: "x", count: 1024)

    /// Before, the head and each body piece were flushed apart: 2 segments for the
    /// length-framed answer, 3 for the chunked one (size line, data and CRLF, last chunk).
    @Test(arguments: [
        Answer(name: "Content-Length", upstream: "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n\(body)",
               ending: "\r\n\r\n\(body)"),
        Answer(name: "chunked", upstream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n\(body)\r\n0\r\n\r\n",
               ending: "\r\n\r\n400\r\n\(body)\r\n0\r\n\r\n"),
    ])
    func aSmallAnswerIsOneSegment(_ answer: Answer) async throws {
        let origin = try await RawOrigin.start(answer: answer.upstream, thenClose: false)
        defer { Task { await origin.shutdown() } }
        try await withProxy(upstream: origin.baseURL) { h in
            let fd = try LoopbackSocket.connect(port: h.port)
            defer { close(fd) }
            let response = try Self.get("/pass/1", on: fd, until: answer.ending)
            #expect(response.hasPrefix("HTTP/1.1 200"))
            #expect(try Self.dataSegmentsIn(fd) == 1)
        }
    }

    /// One GET, read until the answer ends with `end` (10 s at most per read).
    private static func get(_ path: String, on fd: Int32, until end: String) throws -> String {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: gather.test\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { throw TestSupportError(.connectionClosed, "send: errno \(errno)") }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).hasSuffix(end) {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw TestSupportError(.connectionClosed, "recv ended after \(received.count) bytes: errno \(errno)") }
            received += chunk[..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// `tcpi_data_segs_in` of Linux's `struct tcp_info` (at byte 152 since kernel 4.6;
    /// glibc's declaration stops short of it, the kernel fills what it is given).
    private static func dataSegmentsIn(_ fd: Int32) throws -> UInt32 {
        var info = [UInt8](repeating: 0, count: 256)
        var length = socklen_t(info.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0, length >= 156 else {
            throw TestSupportError(.unexpectedReply, "TCP_INFO: errno \(errno), \(length) bytes")
        }
        return info[152..<156].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }
}
