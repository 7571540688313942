import CCurl
import Glibc
import SidecacheTestSupport
import Testing
@testable import SidecacheUpstream

/// What the curl thread waits on (`CurlReadiness`), as curl's socket callback fills it
/// (`CurlSockets.wanted`): local stream pairs stand in for curl's sockets.
@Suite struct CurlReadinessTests {
    private let readiness: CurlReadiness
    private let sockets: CurlSockets

    init() throws {
        readiness = try CurlReadiness()
        sockets = CurlSockets(heldAtMost: 4, readiness: readiness)
    }

    /// The sockets one wait reports, without sleeping.
    private func ready() -> [ReadySocket] {
        var ready: [ReadySocket] = []
        readiness.wait(milliseconds: 0, into: &ready)
        return ready
    }

    /// Input is reported once per arrival: curl reads all there is when told.
    @Test func inputIsReportedWhenItArrives() throws {
        let (socket, peer) = try LocalStreamPair.make()
        defer { close(socket); close(peer) }
        sockets.wanted(socket, CURL_POLL_IN)
        #expect(ready().isEmpty)
        #expect(Self.write(peer))
        let found = ready()
        #expect(found.map(\.socket) == [socket])
        #expect(found.first.map { $0.events & CURL_CSELECT_IN != 0 } == true)
        #expect(ready().isEmpty, "reported again for the same bytes: a paused transfer's loop would spin")
        #expect(Self.write(peer))
        #expect(ready().map(\.socket) == [socket])
    }

    /// Room to write is reported at every wait while curl asks for it: curl writes one
    /// buffer a turn and the socket stays writable, which raises no new edge (an upload
    /// stalled there).
    @Test func roomToWriteIsReportedEachWaitWhileAskedFor() throws {
        let (socket, peer) = try LocalStreamPair.make()
        defer { close(socket); close(peer) }
        sockets.wanted(socket, CURL_POLL_INOUT)
        for _ in 0..<3 {
            let found = ready()
            #expect(found.map(\.socket) == [socket])
            #expect(found.first.map { $0.events & CURL_CSELECT_OUT != 0 } == true)
        }
        sockets.wanted(socket, CURL_POLL_IN)
        #expect(ready().isEmpty)
    }

    /// A socket curl closes itself (its resolver's, with no close callback) leaves the set
    /// when curl is done with it, so its number, taken by the next socket, is watched for
    /// that one. Left as "watched", the next socket with that number was never added, and
    /// the transfer waiting on it sat until its timeout.
    @Test func aSocketCurlIsDoneWithIsForgottenAndItsNumberWatchedAgain() throws {
        let (socket, peer) = try LocalStreamPair.make()
        defer { close(socket); close(peer) }
        sockets.wanted(socket, CURL_POLL_IN)
        sockets.wanted(socket, CURL_POLL_REMOVE)
        #expect(Self.write(peer))
        #expect(ready().isEmpty)

        // Another socket under the same number: the first one closes as the number is
        // taken from it (no other thread can take the number in between).
        let (next, nextPeer) = try LocalStreamPair.make()
        defer { close(nextPeer) }
        #expect(dup2(next, socket) == socket)
        close(next)
        sockets.wanted(socket, CURL_POLL_IN)
        #expect(Self.write(nextPeer))
        #expect(ready().map(\.socket) == [socket])
    }

    /// A connection's socket stays in the set between its transfers (no system call per
    /// request), watched for input only: an idle one is not reported as writable.
    @Test func aConnectionBetweenTransfersIsWatchedForInputOnly() throws {
        let (socket, peer) = try LocalStreamPair.make()
        defer { close(socket); close(peer) }
        sockets.opened(socket)
        sockets.wanted(socket, CURL_POLL_INOUT)
        #expect(!ready().isEmpty)
        sockets.wanted(socket, CURL_POLL_REMOVE)
        #expect(ready().isEmpty)
        #expect(Self.write(peer))
        #expect(ready().map(\.socket) == [socket])
    }

    /// A command's wake-up ends a wait, once.
    @Test func aWakeUpEndsAWait() {
        readiness.wake()
        var found: [ReadySocket] = []
        let started = ContinuousClock.now
        readiness.wait(milliseconds: 60_000, into: &found)
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(found.isEmpty)
        #expect(ready().isEmpty)
    }

    private static func write(_ socket: Int32) -> Bool {
        Glibc.write(socket, "x", 1) == 1
    }
}
