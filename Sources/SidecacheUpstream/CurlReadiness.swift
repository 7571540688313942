import CCurl
import CCurlShim
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
    private var events = [epoll_event](repeating: epoll_event(), count: 64)

    init() throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeEvent = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeEvent
        guard epoll >= 0, wakeEvent >= 0, epoll_ctl(epoll, EPOLL_CTL_ADD, wakeEvent, &event) == 0 else {
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
        var event = epoll_event()
        let input = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        if what & CURL_POLL_OUT != 0 {
            event.events = EPOLLOUT.rawValue | (what & CURL_POLL_IN != 0 ? input : 0)
        } else {
            event.events = input | EPOLLET.rawValue
        }
        event.data.fd = socket
        return epoll_ctl(epoll, adding ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event) == 0
    }

    /// Stops watching `socket`: one curl closes itself (a resolver's), which would
    /// otherwise leave the set unseen and its number watched as taken.
    func unwatch(_ socket: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, socket, nil)
    }

    /// Any thread: the next (or current) `wait` returns at once.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeEvent, &one, MemoryLayout<UInt64>.size)
    }

    /// Sleeps up to `milliseconds` (-1: no limit) for a ready socket or a `wake()`, and
    /// appends the sockets found ready, with what for (`CURL_CSELECT_*`), to `ready`.
    func wait(milliseconds: Int32, into ready: inout [ReadySocket]) {
        let count = epoll_wait(epoll, &events, Int32(events.count), milliseconds)
        guard count > 0 else { return }
        for event in events[..<Int(count)] {
            guard event.data.fd != wakeEvent else {
                var value: UInt64 = 0
                _ = read(wakeEvent, &value, MemoryLayout<UInt64>.size)
                continue
            }
            ready.append(ReadySocket(socket: event.data.fd, events: Self.curlEvents(event.events)))
        }
    }

    private static func curlEvents(_ events: UInt32) -> Int32 {
        var bits: Int32 = 0
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0 { bits |= CURL_CSELECT_IN }
        if events & EPOLLOUT.rawValue != 0 { bits |= CURL_CSELECT_OUT }
        if events & EPOLLERR.rawValue != 0 { bits |= CURL_CSELECT_ERR | CURL_CSELECT_IN }
        return bits
    }
}

/// A socket found ready, and for what (`CURL_CSELECT_*`).
struct ReadySocket {
    let socket: Int32
    let events: Int32
}
