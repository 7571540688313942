import CCurl
import CEpoll
import Glibc

/// What a curl thread waits on: the sockets curl asks for (`CURLMOPT_SOCKETFUNCTION`,
/// through `CurlSockets`) in an epoll set, and a wake-up for commands.
///
/// `curl_multi_poll` built a `poll` over every transfer's socket on every turn, and
/// `curl_multi_perform` then looked at every transfer, each polling its socket again.
/// Here the kernel reports only the sockets that turned ready, and curl is told about
/// just those (`curl_multi_socket_action`, which also spares it its own poll of them).
/// A kept-alive connection's socket stays in the set for the connection's life, so a
/// request costs no `epoll_ctl`.
final class CurlReadiness {
    private let epoll: Int32
    /// Written by `wake()`, from any thread; drained by `wait`.
    private let wakeEvent: Int32
    private var readyFDs = [Int32](repeating: 0, count: 64)
    private var readyEvents = [UInt32](repeating: 0, count: 64)

    init() throws {
        epoll = cepoll_create()
        wakeEvent = cepoll_eventfd()
        guard epoll >= 0, wakeEvent >= 0, cepoll_ctl(epoll, Int32(CEPOLL_ADD), wakeEvent, UInt32(CEPOLL_IN)) == 0 else {
            let error = errno
            if epoll >= 0 { close(epoll) }
            if wakeEvent >= 0 { close(wakeEvent) }
            throw UpstreamFailure(kind: .other, detail: "cannot watch curl's sockets (epoll: errno \(error))")
        }
    }

    deinit {
        close(epoll)
        close(wakeEvent)
    }

    /// Watches `socket` for what curl asks (`CURL_POLL_*`). Input alone is watched
    /// edge-triggered: curl reads all there is each time (it polls for more before it
    /// stops), and the next bytes raise a new edge. Room to write, level-triggered: curl
    /// writes one buffer a turn and leaves the socket writable, which raises no new edge;
    /// level, it is reported each turn until curl has written what it had. `adding`: it is
    /// not watched yet. False: the kernel refused.
    @discardableResult
    func watch(_ socket: Int32, for what: Int32, adding: Bool) -> Bool {
        let events = what & CURL_POLL_OUT != 0
            ? UInt32(CEPOLL_OUT) | (what & CURL_POLL_IN != 0 ? UInt32(CEPOLL_IN) : 0)
            : UInt32(CEPOLL_IN | CEPOLL_EDGE)
        return cepoll_ctl(epoll, Int32(adding ? CEPOLL_ADD : CEPOLL_MODIFY), socket, events) == 0
    }

    /// Stops watching `socket`: one curl closes itself (a resolver's), which would
    /// otherwise leave the set unseen and its number watched as taken.
    func unwatch(_ socket: Int32) {
        _ = cepoll_ctl(epoll, Int32(CEPOLL_DELETE), socket, 0)
    }

    /// Any thread: the next (or current) `wait` returns at once.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeEvent, &one, MemoryLayout<UInt64>.size)
    }

    /// Sleeps up to `milliseconds` (-1: no limit) for a ready socket or a `wake()`, and
    /// appends the sockets found ready, with what for (`CURL_CSELECT_*`), to `ready`.
    func wait(milliseconds: Int32, into ready: inout [ReadySocket]) {
        let count = cepoll_wait(epoll, &readyFDs, &readyEvents, Int32(readyFDs.count), milliseconds)
        guard count > 0 else { return }
        for i in 0..<Int(count) {
            guard readyFDs[i] != wakeEvent else {
                var value: UInt64 = 0
                _ = read(wakeEvent, &value, MemoryLayout<UInt64>.size)
                continue
            }
            ready.append(ReadySocket(socket: readyFDs[i], events: Self.curlEvents(readyEvents[i])))
        }
    }

    private static func curlEvents(_ events: UInt32) -> Int32 {
        var bits: Int32 = 0
        if events & UInt32(CEPOLL_IN) != 0 { bits |= CURL_CSELECT_IN }
        if events & UInt32(CEPOLL_OUT) != 0 { bits |= CURL_CSELECT_OUT }
        if events & UInt32(CEPOLL_ERR) != 0 { bits |= CURL_CSELECT_ERR | CURL_CSELECT_IN }
        return bits
    }
}

/// A socket found ready, and for what (`CURL_CSELECT_*`).
struct ReadySocket {
    let socket: Int32
    let events: Int32
}
