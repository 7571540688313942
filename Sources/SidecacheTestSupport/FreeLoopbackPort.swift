import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A TCP port on 127.0.0.1 for a process that must be told its port up front
/// (`redis-server`, a sentinel): free when handed out, and never handed out twice in
/// this test process. In-process servers should bind port 0 themselves.
///
/// The port comes from below the kernel's ephemeral range: a port the kernel chose for
/// `bind(0)` could be given, the moment it was closed, to any test's outgoing
/// connection as its source port, and redis-server then failed on "Address already in
/// use" (CI did, on a restart of a server on its own port). Outside the range only
/// another process choosing ports by hand can collide; the callers retry on new ports.
public func freeLoopbackPort() throws -> Int {
    try LoopbackPorts.shared.take(pairedAt: nil)
}

/// A port as `freeLoopbackPort()` gives, whose `port + offset` is free too and held for
/// the same test (a Redis cluster node's bus port).
public func freeLoopbackPort(pairedAt offset: Int) throws -> Int {
    try LoopbackPorts.shared.take(pairedAt: offset)
}

private final class LoopbackPorts: Sendable {
    static let shared = LoopbackPorts()

    /// Below the well-known and registered ports most daemons use, up to the start of
    /// the ephemeral range (32768 unless the machine says otherwise).
    private let range: Range<Int>
    private let state: Mutex<(next: Int, given: Set<Int>)>

    private init() {
        let configured = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) }
        let upper = max(configured ?? 32768, 12_000)
        range = 10_000..<upper
        // A random start: two test processes on one machine rarely walk the same ports.
        state = Mutex((next: Int.random(in: range), given: []))
    }

    func take(pairedAt offset: Int?) throws -> Int {
        try state.withLock { state in
            for _ in range {
                let port = state.next
                state.next = port + 1 == range.upperBound ? range.lowerBound : port + 1
                let pair = offset.map { port + $0 }
                if let pair, !range.contains(pair) { continue }
                let wanted = [port] + (pair.map { [$0] } ?? [])
                guard wanted.allSatisfy({ !state.given.contains($0) && Self.isFree($0) }) else { continue }
                state.given.formUnion(wanted)
                return port
            }
            throw TestSupportError(.launchFailed, "no free port left on 127.0.0.1 in \(range)")
        }
    }

    private static func isFree(_ port: Int) -> Bool {
        guard let channel = try? ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: port)
            .wait() else { return false }
        try? channel.close().wait()
        return true
    }
}
