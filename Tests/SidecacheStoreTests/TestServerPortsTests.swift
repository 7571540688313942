import Foundation
import NIOCore
import NIOPosix
import SidecacheTestSupport
import Testing

/// What the redis-servers of these tests are started on. A CI run failed when a server
/// could not bind the port it was given ("Address already in use"): another child had
/// inherited the socket that checked the port free.
@Suite("Test servers: ports and inherited descriptors")
struct TestServerPortsTests {
    @Test func aChildInheritsNothingButItsStandardStreams() async throws {
        let held = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? held.close().wait() }
        let child = try ManagedProcess("/bin/ls", arguments: ["/proc/self/fd"])
        #expect(await child.waitForExit(timeout: .seconds(10)) == 0)
        // 3 is the directory ls itself opened to list.
        let open = child.output.split(whereSeparator: \.isNewline).compactMap { Int($0) }
        #expect(open.sorted() == [0, 1, 2, 3], "the child's descriptors: \(open)")
    }

    @Test func portsAreDistinctFreeAndOutsideTheEphemeralRange() throws {
        let ephemeral = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) } ?? [32768, 60999]
        let single = try (0..<40).map { _ in try freeLoopbackPort() }
        let paired = try (0..<10).map { _ in try freeLoopbackPort(pairedAt: 10000) }
        let all = single + paired + paired.map { $0 + 10000 }
        #expect(Set(all).count == all.count, "no port handed out twice, bus ports included: \(all.sorted())")
        for port in all {
            #expect(!(ephemeral[0]...ephemeral[1]).contains(port), "\(port) is outside the ephemeral range \(ephemeral)")
            let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: port).wait()
            try channel.close().wait()
        }
    }
}
