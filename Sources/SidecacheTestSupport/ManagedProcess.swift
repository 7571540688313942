import Foundation
import Synchronization

/// A child process (the `sidecache` binary, `redis-server`) whose stdout and stderr are
/// captured together. Dropping the last reference to a running child SIGKILLs it and its
/// process group.
public final class ManagedProcess: Sendable {
    /// What the drain thread and the termination handler report, shared with them.
    private final class Record: Sendable {
        struct State {
            var output: [UInt8] = []
            var exitStatus: Int32?
        }

        let state = Mutex(State())

        func withLock<T>(_ body: (inout State) -> T) -> T {
            state.withLock { body(&$0) }
        }
    }

    private let process: Process
    private let state: Record

    /// The child's process id.
    public let pid: Int32

    /// Starts `executable` (a path, or a name looked up in `PATH`). `environment` nil
    /// inherits this process's environment; the child gets stdin from /dev/null.
    public init(
        _ executable: String,
        arguments: [String] = [],
        environment: [String: String]? = nil,
        currentDirectory: String? = nil
    ) throws {
        guard let path = Self.locate(executable) else {
            throw TestSupportError(.launchFailed, "\(executable): not found in PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice

        let state = Record()
        process.terminationHandler = { finished in
            // Shell convention: a death by signal N reads as 128 + N.
            let status = finished.terminationReason == .uncaughtSignal
                ? 128 + finished.terminationStatus
                : finished.terminationStatus
            state.withLock { $0.exitStatus = status }
        }
        do {
            try Self.withSignalsUnblocked { try process.run() }
        } catch {
            throw TestSupportError(.launchFailed, "\(path): \(error)")
        }
        self.process = process
        self.state = state
        self.pid = process.processIdentifier

        // Drain the pipe on a thread of its own until every writer has closed it, so the
        // child never blocks on a full pipe and nothing it wrote is lost.
        let reader = pipe.fileHandleForReading
        let drain = Thread {
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                state.withLock { $0.output.append(contentsOf: data) }
            }
        }
        drain.start()
    }

    deinit {
        if state.withLock({ $0.exitStatus == nil }) {
            // The child leads its own process group (Foundation spawns it so), so this also
            // takes down anything it started, such as a shell's children.
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
    public func signal(_ signal: Int32) {
        _ = Foundation.kill(pid, signal)
    }

    /// Sends SIGKILL.
    public func kill() {
        signal(SIGKILL)
    }

    /// Waits for the child to exit; its exit status, or nil if it still runs after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        _ = try? await eventually(timeout: timeout) { [self] in exitStatus != nil }
        return exitStatus
    }

    /// Waits until the output contains `text`; false after `timeout` or if the child exits
    /// first without having written it.
    public func waitForOutput(containing text: String, timeout: Duration = .seconds(10)) async -> Bool {
        let seen = try? await eventually(timeout: timeout) { [self] in
            output.contains(text) || exitStatus != nil
        }
        return seen == true && output.contains(text)
    }

    /// Runs `body` with no signals blocked on this thread. A spawned child inherits the
    /// spawning thread's signal mask, and the threads Swift concurrency runs on block almost
    /// every signal — without this a child would never see the SIGTERM a test sends it.
    private static func withSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
        var none = sigset_t()
        var previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
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
