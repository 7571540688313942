import CCurl
import CCurlShim

/// Owns the libcurl multi handle, whose connection cache is the keep-alive pool.
///
/// Only the curl thread drives it. The one exception is `wakeup()`, an `eventfd` write
/// (`CurlReadiness`), which is how commands reach the loop. The handle is freed when
/// the last owner lets go; the curl thread holds one reference for as long as it runs,
/// so that is always after the loop has ended and never while another thread could
/// still wake it.
final class CurlMulti: Sendable {
    /// Touched only on the curl thread.
    nonisolated(unsafe) let pointer: UnsafeMutableRawPointer
    /// The sockets of the pool's connections: held here, freed after `curl_multi_cleanup`
    /// has closed the last of them. Touched only on the curl thread, but for `wakeup()`.
    nonisolated(unsafe) let sockets: CurlSockets

    /// `heldSockets`: this thread's share of `LingeringCloses.budget`.
    init(maxConnections: Int, heldSockets: Int) throws {
        let readiness = try CurlReadiness()
        guard let pointer = curl_multi_init() else { throw UpstreamFailure(kind: .other, detail: "curl_multi_init failed") }
        self.pointer = pointer
        sockets = CurlSockets(heldAtMost: heldSockets, readiness: readiness)
        _ = curlshim_multi_setopt_long(pointer, CURLMOPT_MAXCONNECTS, max(1, maxConnections))
        _ = curlshim_multi_setopt_socket_cb(pointer, curlSocketWanted, Unmanaged.passUnretained(sockets).toOpaque())
    }

    func wakeup() {
        sockets.readiness.wake()
    }

    deinit {
        curl_multi_cleanup(pointer)
    }
}
