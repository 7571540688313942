#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process's open-file limit, raised to its hard limit at start as nginx's
/// `worker_rlimit_nofile` and Go's runtime do: each client connection can take a socket
/// upstream too, and a shell's or systemd's soft default (1024) is below what
/// `limits.connections` admits. Past the limit accepts fail with EMFILE, and NIO 2.101
/// retries them at once, at 100 % of a core, until a descriptor is free (its
/// `AcceptBackoffHandler` does not stop that: the failed accept leaves its read pending),
/// so the limit in force is also checked against what the configuration needs.
enum OpenFileLimit {
    /// Raises the soft limit to the hard one; returns the limit in force.
    static func raise() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }

    /// Open files `connections` client connections may need: one each, one upstream
    /// socket each, and some for the listeners, Redis and the process itself.
    static func needed(connections: Int) -> UInt64 { UInt64(connections) * 2 + 256 }
}
