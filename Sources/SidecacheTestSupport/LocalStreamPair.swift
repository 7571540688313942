import Glibc

/// Two connected local stream sockets (`socketpair`), standing in for one of curl's
/// connections and its upstream in tests of what the curl thread does with sockets.
/// Here rather than in those tests: a test file that uses `SOCK_STREAM` beside another
/// of its module that imports `CCurl` fails to find it in a clean build.
public enum LocalStreamPair {
    /// Both descriptors, which the caller closes.
    public static func make() throws -> (Int32, Int32) {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else {
            throw TestSupportError(.launchFailed, "socketpair() failed (errno \(errno))")
        }
        return (ends[0], ends[1])
    }
}
