// What a cache hit costs when SwiftNIO does nothing but answer: the same bootstrap
// options and request decoder as sidecache's listener (ProxyServer+Listeners.swift), and
// for every request one write of a prepared answer of a hit's size and lines. sidecache's
// hit, measured beside it (bench/run.py `PROXIES=nio-floor`, bench/callgrind.py
// `PROXY=nio-floor`), is this plus the proxy's own work; nginx beside both says what is
// left for a NIO server to win.
//
//     nio-floor PORT BODY_FILE

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Answers every request with `answer` once its end is decoded.
final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private let answer: ByteBuffer

    init(answer: ByteBuffer) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[1]), let body = FileManager.default.contents(atPath: arguments[2]) else {
    FileHandle.standardError.write(Data("usage: nio-floor PORT BODY_FILE\n".utf8))
    exit(64)
}
// The lines a sidecache hit on the bench origin's answer carries (nginx's, then the hit's own).
let head = """
    HTTP/1.1 200 OK\r
    Server: nginx/1.22.1\r
    Date: Sat, 05 Dec 2026 11:00:00 GMT\r
    Content-Type: application/json\r
    Content-Length: \(body.count)\r
    Last-Modified: Sat, 05 Dec 2026 11:00:00 GMT\r
    ETag: "6752c3f0-400"\r
    Accept-Ranges: bytes\r
    Age: 1\r
    X-Cache: HIT\r
    Cache-Status: sidecache; hit; ttl=299\r
    \r

    """
var answer = ByteBufferAllocator().buffer(capacity: head.utf8.count + body.count)
answer.writeString(head)
answer.writeBytes(body)

let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelOption(.maxMessagesPerRead, value: 16)
    .childChannelOption(.allowRemoteHalfClosure, value: true)
    .childChannelInitializer { [answer] channel in
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try sync.addHandler(FloorHandler(answer: answer))
        }
    }
let server = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
print("nio-floor listening on 127.0.0.1:\(server.localAddress?.port ?? port)")
try server.closeFuture.wait()
