import Foundation
import Synchronization

/// One real Redis Sentinel on a free loopback port (redis-server in sentinel mode, with
/// a config file of its own it may rewrite), watching the master `name` on
/// `masterPort`. Quick to decide: a master silent for `downAfter` is down.
public final class RedisSentinel: Sendable {
    public let port: Int
    private let process: ManagedProcess
    private let directory: String
    /// redis-cli's options to reach a TLS sentinel.
    private let cliTLS: [String]

    /// `tls`: the sentinel listens only on TLS and reaches the master, the replicas and
    /// the other sentinels over TLS (with the client certificate).
    public static func start(master name: String, masterPort: Int, quorum: Int, downAfter: Duration = .milliseconds(1000),
                             tls: RedisServer.TLS? = nil) async throws -> RedisSentinel {
        let binary = ProcessInfo.processInfo.environment["SIDECACHE_TEST_REDIS_SERVER"] ?? ManagedProcess.locate("redis-server")
        guard let binary else { throw TestSupportError(.launchFailed, "redis-server not found: run the tests with `make test`") }
        let port = try freeLoopbackPort()
        let directory = NSTemporaryDirectory() + "sidecache-sentinel-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/sentinel.conf"
        let listen = tls.map { tls in
            """
            port 0
            tls-port \(port)
            tls-cert-file \(tls.certificates.serverCert)
            tls-key-file \(tls.certificates.serverKey)
            tls-ca-cert-file \(tls.certificates.ca)
            tls-auth-clients \(tls.clientCertificates ? "yes" : "no")
            tls-replication yes
            tls-client-cert-file \(tls.certificates.clientCert)
            tls-client-key-file \(tls.certificates.clientKey)
            """
        } ?? "port \(port)"
        try """
        \(listen)
        bind 127.0.0.1
        protected-mode no
        dir \(directory)
        sentinel monitor \(name) 127.0.0.1 \(masterPort) \(quorum)
        sentinel down-after-milliseconds \(name) \(downAfter.milliseconds)
        sentinel failover-timeout \(name) 5000
        sentinel parallel-syncs \(name) 1

        """.write(toFile: file, atomically: true, encoding: .utf8)
        let process = try ManagedProcess(binary, arguments: [file, "--sentinel"])
        let cliTLS = tls.map { ["--tls", "--cacert", $0.certificates.ca, "--cert", $0.certificates.clientCert, "--key", $0.certificates.clientKey] } ?? []
        let sentinel = RedisSentinel(port: port, process: process, directory: directory, cliTLS: cliTLS)
        let answered = try await eventually(timeout: .seconds(10)) {
            if process.exitStatus != nil { return true }
            return try await sentinel.ask("PING") == "PONG"
        }
        guard answered, process.exitStatus == nil else {
            _ = await process.waitForExit(timeout: .seconds(1))
            throw TestSupportError(.launchFailed, "sentinel on \(port) did not answer PING:\n\(process.output)")
        }
        return sentinel
    }

    private init(port: Int, process: ManagedProcess, directory: String, cliTLS: [String]) {
        self.port = port
        self.process = process
        self.directory = directory
        self.cliTLS = cliTLS
    }

    /// One command through redis-cli; its raw output, trimmed.
    @discardableResult
    public func ask(_ arguments: String...) async throws -> String {
        let p = try ManagedProcess("redis-cli", arguments: ["-h", "127.0.0.1", "-p", String(port), "--raw"] + cliTLS + arguments)
        _ = await p.waitForExit(timeout: .seconds(10))
        return p.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The port of the master this sentinel names now.
    public func masterPort(_ name: String) async throws -> Int? {
        let lines = try await ask("SENTINEL", "get-master-addr-by-name", name).split(separator: "\n")
        return lines.count == 2 ? Int(lines[1]) : nil
    }

    public func stop() async {
        process.kill()
        _ = await process.waitForExit(timeout: .seconds(5))
        try? FileManager.default.removeItem(atPath: directory)
    }
}
