import Foundation
import Synchronization

/// A real redis-server on a free loopback port, owned by one test: started, paused,
/// killed and restarted by PID. `make test` exports SIDECACHE_TEST_REDIS_SERVER;
/// otherwise it is looked up on PATH.
public final class RedisServer: Sendable {
    public let port: Int
    public let password: String?
    /// TLS only (`--tls-port`, no plain port) with these certificates.
    public let tls: TLS?
    /// A replica of the server on this port.
    public let replicaOf: Int?
    private let binary: String
    private let process = Mutex<ManagedProcess?>(nil)

    public struct TLS: Sendable {
        public let certificates: TestCertificates
        /// Whether clients must present a certificate signed by the CA (mutual TLS).
        public let clientCertificates: Bool

        public init(certificates: TestCertificates, clientCertificates: Bool) {
            self.certificates = certificates
            self.clientCertificates = clientCertificates
        }
    }

    public var url: String {
        let scheme = tls == nil ? "redis" : "rediss"
        return password.map { "\(scheme)://:\($0)@127.0.0.1:\(port)/0" } ?? "\(scheme)://127.0.0.1:\(port)/0"
    }

    public static func start(password: String? = nil, tls: TLS? = nil, replicaOf: Int? = nil) async throws -> RedisServer {
        let binary = ProcessInfo.processInfo.environment["SIDECACHE_TEST_REDIS_SERVER"]
            ?? ManagedProcess.locate("redis-server")
        guard let binary else { throw TestSupportError(.launchFailed, "redis-server not found: run the tests with `make test`") }
        // A port can still be taken by another process between choosing it and redis
        // binding it: then the server exits at once, and a new port is tried. Any failed
        // launch is retried: the exit was once not yet recorded when the launch gave up.
        var attempt = 0
        while true {
            attempt += 1
            let server = RedisServer(port: try freeLoopbackPort(), password: password, tls: tls, replicaOf: replicaOf, binary: binary)
            do {
                try await server.launch()
                return server
            } catch let error as TestSupportError where error.kind == .launchFailed && attempt < 5 {
                server.kill()
                continue
            }
        }
    }

    private init(port: Int, password: String?, tls: TLS?, replicaOf: Int?, binary: String) {
        self.port = port
        self.password = password
        self.tls = tls
        self.replicaOf = replicaOf
        self.binary = binary
    }

    private func launch() async throws {
        var args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
        // A replica's full sync makes the master write an RDB file: into the temp dir, not the checkout.
        args += ["--dir", NSTemporaryDirectory(), "--dbfilename", "sidecache-test-\(port).rdb"]
        if let replicaOf { args += ["--replicaof", "127.0.0.1", String(replicaOf)] }
        if let tls {
            args[1] = "0"
            args += ["--tls-port", String(port), "--tls-cert-file", tls.certificates.serverCert, "--tls-key-file", tls.certificates.serverKey,
                     "--tls-ca-cert-file", tls.certificates.ca, "--tls-auth-clients", tls.clientCertificates ? "yes" : "no",
                     // A replica reaches its master over TLS, as a client with the client certificate.
                     "--tls-replication", "yes",
                     "--tls-client-cert-file", tls.certificates.clientCert, "--tls-client-key-file", tls.certificates.clientKey]
        }
        if let password { args += ["--requirepass", password] }
        let p = try ManagedProcess(binary, arguments: args)
        process.withLock { $0 = p }
        // The answer must come from this process: when the port was taken by another
        // test's redis-server, that one answers PING while this one is still exiting.
        let answered = try await eventually(timeout: .seconds(10)) {
            if p.exitStatus != nil { return true }
            guard let info = try? await self.cli("INFO", "server"), let at = info.range(of: "process_id:") else { return false }
            return Int(info[at.upperBound...].prefix(while: \.isNumber)) == Int(p.pid)
        }
        guard answered, p.exitStatus == nil else {
            _ = await p.waitForExit(timeout: .seconds(1))   // its last words, for the message
            throw TestSupportError(.launchFailed, "redis-server on \(port) did not answer PING:\n\(p.output)")
        }
    }

    /// Runs one command through redis-cli and returns its raw output, trimmed.
    @discardableResult
    public func cli(_ arguments: String...) async throws -> String {
        try await cli(arguments)
    }

    public func cli(_ arguments: [String]) async throws -> String {
        let tool = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("redis-cli").path
        var args = ["-h", "127.0.0.1", "-p", String(port), "--raw"]
        if let tls {
            args += ["--tls", "--cacert", tls.certificates.ca, "--cert", tls.certificates.clientCert, "--key", tls.certificates.clientKey]
        }
        if let password { args += ["--no-auth-warning", "-a", password] }
        let p = try ManagedProcess(FileManager.default.isExecutableFile(atPath: tool) ? tool : "redis-cli", arguments: args + arguments)
        _ = await p.waitForExit(timeout: .seconds(10))
        return p.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SIGKILL: the server vanishes mid-whatever, as in a crash.
    public func kill() {
        process.withLock { $0 }?.kill()
    }

    /// SIGSTOP: the server keeps its connections but answers nothing, as a Redis stuck
    /// in a long command or a paused VM does; queued commands run after `resume()`.
    public func pause() {
        process.withLock { $0 }?.signal(SIGSTOP)
    }

    public func resume() {
        process.withLock { $0 }?.signal(SIGCONT)
    }

    /// Starts a new server on the same port: empty, unless a snapshot was saved (`SAVE`),
    /// which it loads, as a Redis with persistence does.
    public func restart() async throws {
        kill()
        _ = await process.withLock { $0 }?.waitForExit(timeout: .seconds(5))
        try await launch()
    }

    public func stop() async {
        process.withLock { $0 }?.kill()
        _ = await process.withLock { $0 }?.waitForExit(timeout: .seconds(5))
        try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "sidecache-test-\(port).rdb")
    }
}
