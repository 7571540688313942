import CCurl
import Glibc

/// curl_global_init must run once per process before any other curl call. A global's
/// initialiser runs exactly once, on first use, and thread-safely.
private let curlGlobalInitResult: Bool = curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK

enum CurlGlobal {
    static func initialize() throws {
        guard curlGlobalInitResult else {
            throw UpstreamFailure(kind: .other, detail: "curl_global_init failed")
        }
    }
}

/// The curl thread is a plain pthread: not a NIO event loop (the loop blocks in its own
/// `epoll_wait`, `CurlReadiness`) and not Foundation's Thread (which would pull in Foundation).
enum CurlThread {
    /// Runs `loop` on a new thread named `name`, which from then on is its only user.
    static func start(_ loop: CurlLoop, name: String) throws -> pthread_t {
        let context = Unmanaged.passRetained(Started(loop: loop, name: name)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let started = Unmanaged<Started>.fromOpaque(context!).takeRetainedValue()
            CurlThread.name(started.name)
            started.loop.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Started>.fromOpaque(context).release()
            throw UpstreamFailure(kind: .other, detail: "cannot start the curl thread (pthread_create: \(rc))")
        }
        return thread
    }

    private final class Started {
        let loop: CurlLoop
        let name: String

        init(loop: CurlLoop, name: String) {
            self.loop = loop
            self.name = name
        }
    }

    /// Names the calling thread: what `top -H` and `/proc` show (it had the name of the
    /// thread that started it). A failure leaves the name as it was.
    private static func name(_ name: String) {
        let comm = open("/proc/thread-self/comm", O_WRONLY)
        guard comm >= 0 else { return }
        _ = name.withCString { write(comm, $0, strlen($0)) }
        close(comm)
    }
}
