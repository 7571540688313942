// `MSG_DONTWAIT` comes through curl's system headers: Swift's Glibc module does not
// declare it, and a release (whole-module) build of this file without CCurl fails.
import CCurl
import Glibc
import NIOCore

/// Sockets whose connection carried a request body, held open after curl is done with
/// them until the upstream closes its side, then closed.
///
/// Such a connection is not kept (`ActiveTransfer.leavesConnectionInDoubt`). Closed at
/// once, its FIN would come first and leave this side in TIME_WAIT for 60 s, a local port
/// each (one a write: an upstream on another host, answering some 470 writes a second,
/// would use up the ephemeral ports), and a reset would make the upstream's kernel drop
/// body bytes it has not read. The request said `Connection: close`, so an upstream
/// closes first, and the TIME_WAIT is its own: the socket is closed when the upstream's
/// FIN is read, or after `wait` when none comes (then with a FIN of ours, as before).
/// Curl-thread only.
final class LingeringCloses {
    /// As nginx's `lingering_timeout`. An upstream closes at once when it can; a busy one
    /// (a collector's pause, a loaded host) may take longer than the 500 ms this waited
    /// before (a full test run, two cores shared by every suite, takes 10 s for 40 writes).
    static let wait = TimeAmount.seconds(5)
    /// Sockets held at most, all curl threads together: they are file descriptors beyond
    /// the `2 × connections` the open-file limit is checked against, within the 256 it
    /// leaves spare.
    static let budget = 128

    /// Past this many held (this curl thread's share of `budget`), a socket is closed at once.
    let limit: Int
    private var held: [(socket: Int32, deadline: NIODeadline)] = []

    init(limit: Int) {
        self.limit = limit
    }

    var isEmpty: Bool { held.isEmpty }

    /// Takes `socket` from curl.
    func hold(_ socket: Int32, now: NIODeadline) {
        guard held.count < limit else {
            close(socket)
            return
        }
        held.append((socket, now + Self.wait))
    }

    /// Closes the sockets whose upstream has closed (or whose wait is over); returns the
    /// earliest deadline of those left.
    func sweep(now: NIODeadline) -> NIODeadline? {
        guard !held.isEmpty else { return nil }
        held.removeAll { entry in
            guard entry.deadline <= now || Self.peerClosed(entry.socket) else { return false }
            close(entry.socket)
            return true
        }
        return held.lazy.map(\.deadline).min()
    }

    func closeAll() {
        for entry in held { close(entry.socket) }
        held.removeAll()
    }

    /// The last ones curl closes in `curl_multi_cleanup` come after the loop's `stop`.
    deinit { closeAll() }

    /// Reads what is waiting, dropping it: true at its end (0) or an error other than
    /// "nothing yet".
    private static func peerClosed(_ socket: Int32) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: 512, alignment: 1) { buffer in
            while true {
                let n = recv(socket, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
                if n == 0 { return true }
                if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR }
            }
        }
    }
}
