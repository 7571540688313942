import Foundation
import Glibc
import Synchronization

/// An upstream that answers each request as soon as its head is in, and only then
/// reads its body: an ingest endpoint that says 200 and reads on. It records how many
/// body bytes of each request reached it before the connection ended, so a test sees a
/// body the proxy's side cut short (a reset makes the kernel drop what was not read).
/// Blocking sockets on threads of its own: one connection, one request.
public final class EarlyAnsweringOrigin: Sendable {
    public let port: Int
    private let listener: Int32
    private let received = Mutex<[Int]>([])

    /// Body bytes received per request, in the order the requests ended.
    public var bodiesReceived: [Int] { received.withLock { $0 } }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// It starts reading a body 100 ms after its answer.
    public init() throws {
        (listener, port) = try LoopbackSocket.bound()
        guard listen(listener, 16) == 0 else {
            close(listener)
            throw TestSupportError(.launchFailed, "listen failed (errno \(errno))")
        }
        let listener = listener
        Thread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                Thread { [self] in serve(connection) }.start()
            }
        }.start()
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var headEnd: Int?
        while headEnd == nil {
            let n = read(connection, &chunk, chunk.count)
            guard n > 0 else { return }
            bytes += chunk[..<n]
            headEnd = bytes.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
        }
        let head = String(decoding: bytes[..<headEnd!], as: UTF8.self).lowercased()
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        _ = answer.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        Thread.sleep(forTimeInterval: 0.1)
        var body = bytes.count - headEnd!
        while body < length {
            let n = read(connection, &chunk, chunk.count)
            guard n > 0 else { break }
            body += n
        }
        received.withLock { $0.append(body) }
    }

    /// Stops accepting; connections being served end on their own.
    public func shutdown() {
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
