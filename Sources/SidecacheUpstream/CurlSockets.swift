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
/// Confined to the curl thread. Owned by `CurlMulti`, which outlives every connection
/// (curl closes the last ones, through `closed`, in `curl_multi_cleanup`).
final class CurlSockets {
    /// Sockets curl opened whose connection's ports are not known yet.
    private var unplaced: [Int32] = []
    /// Connected sockets by their connection's ports (`portsKey`), and back.
    private var byPorts: [UInt64: Int32] = [:]
    private var portsOf: [Int32: UInt64] = [:]

    func opened(_ socket: Int32) {
        unplaced.append(socket)
    }

    func closed(_ socket: Int32) {
        if let ports = portsOf.removeValue(forKey: socket) {
            byPorts[ports] = nil
        } else {
            unplaced.removeAll { $0 == socket }
        }
    }

    /// Whether the connection between `localPort` and `remotePort` has bytes or its
    /// end waiting, before this transfer sent anything on it.
    func hasInputWaiting(localPort: Int, remotePort: Int) -> Bool {
        let ports = Self.portsKey(local: localPort, remote: remotePort)
        if byPorts[ports] == nil { placeConnected() }
        guard let socket = byPorts[ports] else { return false }
        var byte: UInt8 = 0
        return recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0
    }

    /// Files the sockets that have connected by their ports.
    private func placeConnected() {
        unplaced.removeAll { socket in
            guard let local = Self.port(of: socket, peer: false), let remote = Self.port(of: socket, peer: true) else { return false }
            let ports = Self.portsKey(local: local, remote: remote)
            byPorts[ports] = socket
            portsOf[socket] = ports
            return true
        }
    }

    private static func portsKey(local: Int, remote: Int) -> UInt64 {
        UInt64(truncatingIfNeeded: local) << 32 | UInt64(truncatingIfNeeded: remote)
    }

    /// The socket's own port, or its peer's; nil before it has one (not connected).
    private static func port(of socket: Int32, peer: Bool) -> Int? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(socket, $0, &length) : getsockname(socket, $0, &length)
            }
        }
        guard found == 0 else { return nil }
        let port: UInt16
        switch Int32(address.ss_family) {
        case AF_INET: port = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port } }
        case AF_INET6: port = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port } }
        default: return nil
        }
        return port == 0 ? nil : Int(UInt16(bigEndian: port))
    }
}

// curl's socket callbacks: the tracker arrives as the unretained SOCKOPTDATA,
// CLOSESOCKETDATA and PREREQDATA pointer.

/// CURLOPT_SOCKOPTFUNCTION: a socket curl just made for a connection.
func curlSocketOpened(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t, _ purpose: curlsocktype) -> Int32 {
    Unmanaged<CurlSockets>.fromOpaque(context!).takeUnretainedValue().opened(socket)
    return CURL_SOCKOPT_OK
}

/// CURLOPT_CLOSESOCKETFUNCTION: curl is done with a socket; closing it is ours.
func curlSocketClosing(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t) -> Int32 {
    Unmanaged<CurlSockets>.fromOpaque(context!).takeUnretainedValue().closed(socket)
    return close(socket)
}

/// CURLOPT_PREREQFUNCTION: a connection, new or kept alive, about to carry a request.
func curlConnectionChosen(_ context: UnsafeMutableRawPointer?, _ remoteIP: UnsafeMutablePointer<CChar>?,
                          _ localIP: UnsafeMutablePointer<CChar>?, _ remotePort: Int32, _ localPort: Int32) -> Int32 {
    let sockets = Unmanaged<CurlSockets>.fromOpaque(context!).takeUnretainedValue()
    return sockets.hasInputWaiting(localPort: Int(localPort), remotePort: Int(remotePort)) ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK
}
