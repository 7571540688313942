import NIOCore
import NIOPosix

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads the port the
/// kernel chose, closes. For processes that must be told their port up front (the
/// `sidecache` binary, `redis-server`); in-process servers should bind port 0 themselves.
public func freeLoopbackPort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0)
        .wait()
    defer { try? channel.close().wait() }
    guard let port = channel.localAddress?.port else {
        throw TestSupportError(.launchFailed, "bound 127.0.0.1:0 but got no local port")
    }
    return port
}
