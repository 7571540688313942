import NIOCore
import NIOHTTP1

extension OriginResponse {
    /// 64 KiB, the size of each write of a generated body.
    static let writeSize = 64 * 1024

    /// Whether the script asked for `Connection: close`.
    var closesConnection: Bool {
        headers.values("Connection").contains { value in
            value.split(separator: ",").contains { token in
                token.filter { $0 != " " && $0 != "\t" }.lowercased() == "close"
            }
        }
    }

    /// Writes interim heads, the head, the body (unless answering HEAD) and the end.
    /// Every write is awaited until the socket took it, so at most one 64 KiB piece is
    /// buffered and nothing is lost when the connection is closed right after.
    func write(on channel: any Channel, isHead: Bool) async throws {
        if delay > .zero {
            try await Task.sleep(for: delay)
        }
        for (status, headers) in interim {
            let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: .init(headers))
            try await channel.writeAndFlush(HTTPServerResponsePart.head(head))
        }
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: framedHeaders())
        try await channel.writeAndFlush(HTTPServerResponsePart.head(head))
        if !isHead {
            try await writeBody(on: channel)
        }
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
    }

    /// The script's headers plus the framing it left out.
    private func framedHeaders() -> HTTPHeaders {
        var out = HTTPHeaders(headers.map { ($0.name, $0.value) })
        let framed = headers.contains("Content-Length") || headers.contains("Transfer-Encoding")
        let bodyless = (100..<200).contains(status) || status == 204 || status == 304
        switch body {
        case .bytes(let bytes):
            if !framed && !bodyless { out.add(name: "Content-Length", value: String(bytes.count)) }
        case .generated(let count):
            if !framed { out.add(name: "Content-Length", value: String(count)) }
        case .chunked:
            if !headers.contains("Transfer-Encoding") { out.add(name: "Transfer-Encoding", value: "chunked") }
        }
        return out
    }

    private func writeBody(on channel: any Channel) async throws {
        switch body {
        case .bytes(let bytes):
            if !bytes.isEmpty {
                try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))))
            }
        case .chunked(let chunks):
            for chunk in chunks where !chunk.isEmpty {
                try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: chunk))))
            }
        case .generated(let count):
            // Byte i is i % 251, so every piece is a window into one repeating pattern.
            let pattern = ByteBuffer(bytes: Self.generatedBytes(from: 0, count: Self.writeSize + 251))
            var offset = 0
            while offset < count {
                let size = min(Self.writeSize, count - offset)
                let piece = pattern.getSlice(at: offset % 251, length: size)!
                try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(piece)))
                offset += size
            }
        }
    }
}
