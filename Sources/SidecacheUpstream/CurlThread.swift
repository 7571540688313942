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
    /// Runs `loop` on a new thread named `name`, which from then on is its only user.
    static func start(_ loop: CurlLoop, name: String) throws -> pthread_t {
        let context = Unmanaged.passRetained(Started(loop: loop, name: name)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let started = Unmanaged<Started>.fromOpaque(context!).takeRetainedValue()
            CurlThread.settle(named: started.name)
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

    /// `SCHED_BATCH` from <sched.h>, which Swift's Glibc does not bring in (a GNU extension).
    private static let batchPolicy: Int32 = 3

    /// Names the calling thread (what `top -H` and `/proc` show; it was the name of the
    /// thread that started it) and puts it in the batch scheduling class. An event loop
    /// hands each forwarded request over with a wake-up; a normal thread woken so takes
    /// the CPU from the loop at once, in the middle of the requests it is reading, and a
    /// turn of the curl loop then ran for one of them. A batch thread waits for the loop
    /// (or anything else running) to yield or for its slice to end, then takes every
    /// request queued by then; on an idle CPU it runs at once as before. Its nice value
    /// and share of the CPU are unchanged, and no privilege is needed (BENCHMARKS.md,
    /// issue 13). Either step failing leaves the thread as it was.
    private static func settle(named name: String) {
        var parameters = sched_param(sched_priority: 0)
        _ = pthread_setschedparam(pthread_self(), batchPolicy, &parameters)
        let comm = open("/proc/thread-self/comm", O_WRONLY)
        if comm >= 0 {
            _ = name.withCString { write(comm, $0, strlen($0)) }
            close(comm)
        }
    }
}
