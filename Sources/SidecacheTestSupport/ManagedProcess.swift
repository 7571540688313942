import Foundation
import Synchronization

/// A child process (the `sidecache` binary, `redis-server`) whose stdout and stderr are
/// captured together. Dropping the last reference to a running child SIGKILLs it and its
/// process group.
public final class ManagedProcess: Sendable {
    /// What the drain and reaper threads report, shared with them.
    private final class Record: Sendable {
        struct State {
            var output: [UInt8] = []
            /// Every writer has closed the pipe: `output` is all there will be.
            var outputEnded = false
            var exitStatus: Int32?
        }

        let state = Mutex(State())

        func withLock<T>(_ body: (inout State) -> T) -> T {
            state.withLock { body(&$0) }
        }
    }

    private let state: Record

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// The child's process id.
    public let pid: Int32

    /// Starts `executable` (a path, or a name looked up in `PATH`). `environment` nil
    /// inherits this process's environment; the child gets stdin from /dev/null, its
    /// stdout and stderr go to one pipe, it starts with no signal blocked and leads its
    /// own process group.
    ///
    /// Spawned with posix_spawn, not Foundation's `Process`: on Linux (Swift 6.3.1)
    /// `Process.run()` intermittently segfaults reading /proc/self/fd entries
    /// (swift-corelibs-foundation PR #5472), which took this test suite down about one
    /// run in five.
    public init(
        _ executable: String,
        arguments: [String] = [],
        environment: [String: String]? = nil
    ) throws {
        guard let path = Self.locate(executable) else {
            throw TestSupportError(.launchFailed, "\(executable): not found in PATH")
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw TestSupportError(.launchFailed, "\(path): pipe() failed (errno \(errno))")
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        // The child keeps nothing else this process has open, whatever thread opened it:
        // not another child's pipe (that pipe would not end until this child does), not
        // a socket a test is binding (a redis-server kept holding a port "just checked
        // free", and the server started on it failed on "Address already in use").
        // (glibc 2.34 has it; Swift's Glibc module does not import it.)
        guard let closeFrom = Self.addCloseFrom, closeFrom(&actions, 3) == 0 else {
            close(readEnd)
            close(writeEnd)
            throw TestSupportError(.launchFailed, "\(path): posix_spawn_file_actions_addclosefrom_np is not available (glibc 2.34 or later)")
        }

        // Threads of Swift concurrency block almost every signal and a child inherits
        // the mask: without an empty one it would never see the SIGTERM a test sends.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + env).forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, env)
        close(writeEnd)
        guard rc == 0 else {
            close(readEnd)
            throw TestSupportError(.launchFailed, "\(path): posix_spawn failed (\(String(cString: strerror(rc))))")
        }

        let state = Record()
        let spawned = child
        self.state = state
        self.pid = spawned

        // Drain the pipe until every writer has closed it, so the child never blocks on a
        // full pipe and nothing it wrote is lost.
        Thread {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                state.withLock { $0.output.append(contentsOf: chunk[0..<n]) }
            }
            close(readEnd)
            state.withLock { $0.outputEnded = true }
        }.start()
        // Reap the child; shell convention: a death by signal N reads as 128 + N.
        Thread {
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) < 0 && errno == EINTR {}
            let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            state.withLock { $0.exitStatus = code }
        }.start()
    }

    deinit {
        if state.withLock({ $0.exitStatus == nil }) {
            // The child leads its own process group, so this also takes down anything it
            // started, such as a shell's children.
            _ = Foundation.kill(-pid, SIGKILL)
            _ = Foundation.kill(pid, SIGKILL)
        }
    }

    /// Everything the child wrote to stdout and stderr so far, as UTF-8.
    public var output: String {
        state.withLock { String(decoding: $0.output, as: UTF8.self) }
    }

    /// The exit status once the child has exited (128 + N after a death by signal N).
    public var exitStatus: Int32? { state.withLock { $0.exitStatus } }

    public var isRunning: Bool { exitStatus == nil }

    /// Sends `signal` (e.g. `SIGTERM`) to the child.
    /// Not after it was reaped: its PID may belong to someone else's process by then.
    public func signal(_ signal: Int32) {
        guard isRunning else { return }
        _ = Foundation.kill(pid, signal)
    }

    /// Sends SIGKILL.
    public func kill() {
        signal(SIGKILL)
    }

    /// The child has exited and its output is all read. The reaper sees the exit before
    /// the drain thread has necessarily read the last bytes: `output` read on the exit
    /// alone came back empty now and then on a loaded machine (redis-cli's KEYS answer).
    private var finished: Bool { state.withLock { $0.exitStatus != nil && $0.outputEnded } }

    /// Waits for the child to exit and its output to be read in full; its exit status, or
    /// nil if it still runs after `timeout`. (If something it started keeps the pipe open,
    /// this returns the status after `timeout` with the output read so far.)
    public func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        _ = try? await eventually(timeout: timeout) { [self] in finished }
        return exitStatus
    }

    /// Waits until the output contains `text`; false after `timeout` or if the child exits
    /// first without having written it.
    public func waitForOutput(containing text: String, timeout: Duration = .seconds(10)) async -> Bool {
        let seen = try? await eventually(timeout: timeout) { [self] in
            output.contains(text) || finished
        }
        return seen == true && output.contains(text)
    }

    /// The absolute path of `name`: itself if it contains "/", else the first executable
    /// match in `PATH`.
    public static func locate(_ name: String) -> String? {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":")
            .map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
