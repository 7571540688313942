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

/// The curl thread is a plain pthread: not a NIO event loop (the loop blocks in
/// curl_multi_poll) and not Foundation's Thread (which would pull in Foundation).
enum CurlThread {
    /// Runs `loop` on a new thread, which from then on is its only user.
    static func start(_ loop: CurlLoop) throws -> pthread_t {
        let context = Unmanaged.passRetained(loop).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let loop = Unmanaged<CurlLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<CurlLoop>.fromOpaque(context).release()
            throw UpstreamFailure(kind: .other, detail: "cannot start the curl thread (pthread_create: \(rc))")
        }
        return thread
    }
}
