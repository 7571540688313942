import Glibc
import NIOCore
import SidecacheTestSupport
import Testing
@testable import SidecacheUpstream

/// A held socket is one end of a local stream pair; what its other end reads says
/// whether it was closed (end of stream) or is still held (nothing yet).
@Suite struct LingeringClosesTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aSocketIsClosedOnceItsPeerHasClosedAndNotBefore() throws {
        let closes = LingeringCloses(limit: 4)
        let (held, peer) = try Self.pair()
        defer { close(peer) }
        closes.hold(held, now: start)
        #expect(closes.sweep(now: start) == start + LingeringCloses.wait)
        #expect(Self.read(peer) == .nothingYet)

        // Bytes an upstream writes before its close are read and dropped.
        #expect(Self.write(peer, "late"))
        #expect(shutdown(peer, Int32(SHUT_WR)) == 0)
        #expect(closes.sweep(now: start + .milliseconds(1)) == nil)
        #expect(closes.isEmpty)
        #expect(Self.read(peer) == .ended)
    }

    /// A busy upstream gets the whole wait: seconds, not a fraction of one.
    @Test func aSilentPeerIsWaitedForSecondsThenClosed() throws {
        #expect(LingeringCloses.wait >= .seconds(5))
        let closes = LingeringCloses(limit: 4)
        let (held, peer) = try Self.pair()
        defer { close(peer) }
        closes.hold(held, now: start)
        #expect(closes.sweep(now: start + LingeringCloses.wait - .nanoseconds(1)) != nil)
        #expect(Self.read(peer) == .nothingYet)
        #expect(closes.sweep(now: start + LingeringCloses.wait) == nil)
        #expect(Self.read(peer) == .ended)
    }

    @Test func pastItsLimitASocketIsClosedAtOnce() throws {
        let closes = LingeringCloses(limit: 2)
        let pairs = try (0..<3).map { _ in try Self.pair() }
        defer { for (_, peer) in pairs { close(peer) } }
        for (held, _) in pairs { closes.hold(held, now: start) }
        #expect(pairs.map { Self.read($0.peer) } == [.nothingYet, .nothingYet, .ended])
        closes.closeAll()
        #expect(pairs.map { Self.read($0.peer) } == [.ended, .ended, .ended])
    }

    private enum Seen: Equatable { case nothingYet, ended, bytes, failed }

    private static func pair() throws -> (held: Int32, peer: Int32) {
        let (held, peer) = try LocalStreamPair.make()
        return (held, peer)
    }

    private static func write(_ socket: Int32, _ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) == $0.count }
    }

    private static func read(_ socket: Int32) -> Seen {
        var byte: UInt8 = 0
        let n = recv(socket, &byte, 1, Int32(MSG_DONTWAIT))
        if n == 0 { return .ended }
        if n > 0 { return .bytes }
        return errno == EAGAIN || errno == EWOULDBLOCK ? .nothingYet : .failed
    }
}

