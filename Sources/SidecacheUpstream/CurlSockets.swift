import CCurl
import Glibc

/// The sockets of one curl thread's connections, so that a kept-alive connection with
/// bytes waiting before a request is sent on it is never used.
///
/// curl 7.88 checks an idle connection only for a close before reusing it, and reads
/// whatever is waiting as the next answer. An upstream that writes past the end of
/// an answer (a body after a HEAD's head, a 204 or a 304, more bytes than its
/// `Content-Length`), a moment after the answer itself, so left the connection one
/// answer behind: each later request on it got the answer to the one before — one
/// user's answer handed to the next user, and stored under the next user's key.
/// nginx closes a kept-alive connection that turns readable while idle; here the
/// connection is looked at just before its next request (`CURLOPT_PREREQFUNCTION`),
/// and one with anything waiting is refused: curl then closes it, and the loop starts
/// the transfer again on a new connection (`CurlLoop.retryOnANewConnection`).
///
/// Also the sockets its loop waits on: those curl asks for (`wanted`, `CurlReadiness`).
///
/// Confined to the curl thread. Owned by `CurlMulti`, which outlives every connection
/// (curl closes the last ones, through `closed`, in `curl_multi_cleanup`).
final class CurlSockets {
    /// Sockets curl opened whose connection's addresses are not known yet.
    private var unplaced: [Int32] = []
    /// Connected sockets by their connection (`Connection`), and back.
    private var byConnection: [Connection: Int32] = [:]
    private var connectionOf: [Int32: Connection] = [:]
    /// Connections that have carried a request. A connection's first request is not
    /// looked at: nothing can be left over from an answer yet, and a TLS 1.3 server's
    /// session tickets may well be waiting right after the handshake.
    private var used: Set<Int32> = []
    /// Sockets to close with a reset rather than a FIN (`resetWhenClosed`).
    private var resetting: Set<Int32> = []
    /// Sockets to hold until the upstream closes first (`lingerWhenClosed`).
    private var lingering: Set<Int32> = []
    /// Those sockets, once curl is done with them.
    let held: LingeringCloses
    let readiness: CurlReadiness
    /// The sockets in the readiness set, and what for (`CURL_POLL_*`).
    private var watched: [Int32: Int32] = [:]

    init(heldAtMost: Int, readiness: CurlReadiness) {
        held = LingeringCloses(limit: heldAtMost)
        self.readiness = readiness
    }

    /// What curl wants to hear about `socket` (`CURL_POLL_*`). A connection's socket stays
    /// in the readiness set from the first time curl asks until it is closed, whatever curl
    /// says between its transfers (`CURL_POLL_REMOVE` when one ends, `CURL_POLL_IN` when
    /// the next goes out on it): a kept-alive connection then costs no system call per
    /// request. Between transfers it is watched for input only (curl has nothing to
    /// write), and what an idle one hears (its end, stray bytes) is a turn for nothing,
    /// which curl ignores and `hasInputWaiting` finds. Other sockets (a resolver's)
    /// leave the set when curl is done with them: curl closes those itself.
    func wanted(_ socket: Int32, _ what: Int32) {
        var what = what
        if what == CURL_POLL_REMOVE {
            guard isConnection(socket) else {
                if watched.removeValue(forKey: socket) != nil { readiness.unwatch(socket) }
                return
            }
            what = CURL_POLL_IN
        }
        let current = watched[socket]
        guard current != what else { return }
        // Added or changed; a socket the kernel already had, or no longer has, the other way.
        if !readiness.watch(socket, for: what, adding: current == nil) {
            readiness.watch(socket, for: what, adding: current != nil)
        }
        watched[socket] = what
    }

    private func isConnection(_ socket: Int32) -> Bool {
        connectionOf[socket] != nil || unplaced.contains(socket)
    }

    /// How a socket curl is done with is closed.
    enum Close { case now, reset, afterThePeer }

    /// A connection as both ends name it: Linux gives one local port to connections to
    /// different addresses, so the ports alone may name two.
    struct Connection: Hashable {
        let localPort: Int
        let remotePort: Int
        /// FNV-1a of the remote address as curl and `inet_ntop` spell it.
        let remoteAddress: UInt64
    }

    func opened(_ socket: Int32) {
        unplaced.append(socket)
    }

    /// Forgets `socket`, and says how it is to be closed.
    func closed(_ socket: Int32) -> Close {
        used.remove(socket)
        // Closed, it leaves the readiness set by itself; held, its end is still watched.
        watched[socket] = nil
        if let connection = connectionOf.removeValue(forKey: socket) {
            if byConnection[connection] == socket { byConnection[connection] = nil }
        } else {
            unplaced.removeAll { $0 == socket }
        }
        if resetting.remove(socket) != nil { return .reset }
        if lingering.remove(socket) != nil { return .afterThePeer }
        return .now
    }

    /// `connection` carried a request body and is not kept: held open until the upstream
    /// closes its side (`LingeringCloses`).
    func lingerWhenClosed(_ connection: Connection) {
        if byConnection[connection] == nil { placeConnected() }
        if let socket = byConnection[connection] { lingering.insert(socket) }
    }

    /// `connection` is not kept (its upstream may write past an answer): closed with a
    /// reset (`SO_LINGER` 0), as nginx's `reset_timedout_connection` does, not a FIN. A
    /// FIN left this side in TIME_WAIT for 60 s, a local port each: a connection per 204
    /// from an upstream on another host (no TIME_WAIT reuse there) ran out of ports past
    /// some 470 a second (the review's). Whatever the upstream writes after is dropped.
    func resetWhenClosed(_ connection: Connection) {
        if byConnection[connection] == nil { placeConnected() }
        if let socket = byConnection[connection] { resetting.insert(socket) }
    }

    /// Whether `connection` has carried a request before and now has bytes or its end
    /// waiting, before this transfer sent anything on it.
    func hasInputWaiting(_ connection: Connection) -> Bool {
        if byConnection[connection] == nil { placeConnected() }
        guard let socket = byConnection[connection] else { return false }
        guard used.contains(socket) else {
            used.insert(socket)
            return false
        }
        var byte: UInt8 = 0
        return recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0
    }

    /// Files the sockets that have connected by their connection.
    private func placeConnected() {
        unplaced.removeAll { socket in
            guard let connection = Self.connection(of: socket) else { return false }
            byConnection[connection] = socket
            connectionOf[socket] = connection
            return true
        }
    }

    /// The connection a socket carries; nil before it is connected.
    private static func connection(of socket: Int32) -> Connection? {
        guard let local = address(of: socket, peer: false), let remote = address(of: socket, peer: true) else { return nil }
        return Connection(localPort: local.port, remotePort: remote.port, remoteAddress: remote.text.withCString(fnv1a))
    }

    /// The socket's own address or its peer's: port and presentation form.
    private static func address(of socket: Int32, peer: Bool) -> (port: Int, text: String)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(socket, $0, &length) : getsockname(socket, $0, &length)
            }
        }
        guard found == 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let port: UInt16
        switch Int32(storage.ss_family) {
        case AF_INET:
            var address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee } }
            port = address.sin_port
            guard inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(text.count)) != nil else { return nil }
        case AF_INET6:
            var address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee } }
            port = address.sin6_port
            guard inet_ntop(AF_INET6, &address.sin6_addr, &text, socklen_t(text.count)) != nil else { return nil }
        default:
            return nil
        }
        guard port != 0 else { return nil }
        return (Int(UInt16(bigEndian: port)), text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }
}

/// FNV-1a, 64 bits, of a NUL-terminated string.
func fnv1a(_ text: UnsafePointer<CChar>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    var p = text
    while p.pointee != 0 {
        hash = (hash ^ UInt64(UInt8(bitPattern: p.pointee))) &* 0x100_0000_01b3
        p += 1
    }
    return hash
}

// curl's socket callbacks: the tracker arrives as the unretained SOCKOPTDATA and
// CLOSESOCKETDATA pointer.

/// CURLOPT_SOCKOPTFUNCTION: a socket curl just made for a connection.
func curlSocketOpened(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t, _ purpose: curlsocktype) -> Int32 {
    Unmanaged<CurlSockets>.fromOpaque(context!).takeUnretainedValue().opened(socket)
    return CURL_SOCKOPT_OK
}

/// CURLOPT_CLOSESOCKETFUNCTION: curl is done with a socket; closing it is ours.
func curlSocketClosing(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t) -> Int32 {
    let sockets = Unmanaged<CurlSockets>.fromOpaque(context!).takeUnretainedValue()
    switch sockets.closed(socket) {
    case .now:
        break
    case .reset:
        var reset = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(socket, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
    case .afterThePeer:
        sockets.held.hold(socket, now: .now())
        return 0
    }
    return close(socket)
}

/// CURLMOPT_SOCKETFUNCTION: what curl wants to hear about a socket. The tracker arrives
/// as the unretained SOCKETDATA.
func curlSocketWanted(_ easy: UnsafeMutableRawPointer?, _ socket: curl_socket_t, _ what: Int32,
                      _ context: UnsafeMutableRawPointer?, _ socketContext: UnsafeMutableRawPointer?) -> Int32 {
    Unmanaged<CurlSockets>.fromOpaque(context!).takeUnretainedValue().wanted(socket, what)
    return 0
}

/// CURLOPT_PREREQFUNCTION: a connection, new or kept alive, about to carry a request.
/// Its data is the transfer (PREREQDATA, set with each transfer's own options).
func curlConnectionChosen(_ context: UnsafeMutableRawPointer?, _ remoteIP: UnsafeMutablePointer<CChar>?,
                          _ localIP: UnsafeMutablePointer<CChar>?, _ remotePort: Int32, _ localPort: Int32) -> Int32 {
    let transfer = Unmanaged<ActiveTransfer>.fromOpaque(context!).takeUnretainedValue()
    let connection = CurlSockets.Connection(localPort: Int(localPort), remotePort: Int(remotePort),
                                            remoteAddress: remoteIP.map { fnv1a($0) } ?? 0)
    return transfer.connectionChosen(connection) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT
}
