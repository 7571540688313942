import NIOCore
import NIOPosix
import SidecacheUpstream

/// The event loop test transfers report to.
let testEventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()

/// A request with test-friendly defaults: generous timeouts unless a test is about them.
func upstreamRequest(
    _ method: String = "GET",
    _ url: String,
    headers: [(name: String, value: String)] = [],
    body: [UInt8]? = nil,
    headTimeout: TimeAmount = .seconds(10),
    connectTimeout: TimeAmount = .seconds(5),
    idleBodyTimeout: TimeAmount = .seconds(10)
) -> UpstreamRequest {
    UpstreamRequest(
        method: method,
        url: url,
        headers: headers,
        body: body.map { ByteBuffer(bytes: $0) },
        headTimeout: headTimeout,
        connectTimeout: connectTimeout,
        idleBodyTimeout: idleBodyTimeout)
}

extension Array where Element == (name: String, value: String) {
    /// Values of `name`, compared case-insensitively.
    func values(named name: String) -> [String] {
        filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
}
