#if canImport(Glibc)
import Glibc
#endif

/// A loopback port that refuses every connection for as long as this object lives: a
/// socket bound to it but never listening. Unlike a port that was merely free a moment
/// ago, no concurrently running test can start listening on it meanwhile.
public final class RefusingPort: Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try LoopbackSocket.bound()
    }

    deinit { close(fd) }
}
