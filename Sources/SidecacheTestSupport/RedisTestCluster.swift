import Foundation
import SidecacheCore

/// A real Redis Cluster on loopback, owned by one test: `masters` masters (and
/// `replicasPerMaster` replicas of each), every node a redis-server of its own with its
/// own directory and cluster config file in one temp directory, joined by
/// `redis-cli --cluster create`. Nodes are killed by PID; slots are moved with
/// `redis-cli --cluster reshard`. `make test` exports SIDECACHE_TEST_REDIS_SERVER
/// (redis-cli is taken from the same directory); otherwise both are looked up on PATH.
///
/// Named `RedisTestCluster`, not `RedisCluster`: SidecacheStore has an internal
/// `RedisCluster`, and a test file with `@testable import SidecacheStore` and
/// `import SidecacheTestSupport` could not name either.
///
/// Measured with redis-server 7.0.15 and a node timeout of 1000 ms: creating takes 1-3 s
/// (redis-cli waits for the join in 1 s steps); after a master is SIGKILLed the others
/// report `cluster_state:fail` about 1.5 s later and its replica is master and the
/// cluster ok again 2.2-2.5 s after the kill; moving 500-1000 slots holding a few
/// thousand keys takes 0.5-2 s.
public final class RedisTestCluster: Sendable {
    public struct Node: Sendable {
        public let port: Int
        /// CLUSTER MYID: the node's id, which it keeps for life (and a promoted replica too).
        public let id: String
    }

    /// One master and the slots it owns, as a node sees it now.
    public typealias Master = (port: Int, id: String, slots: [ClosedRange<Int>])

    /// Every node: the masters first, in creation order, then the replicas.
    public let nodes: [Node]
    /// How many of `nodes` were created masters (the first ones).
    public let masterCount: Int
    /// Aligned with `nodes`.
    private let processes: [ManagedProcess]
    private let directory: String
    /// redis-cli.
    private let tool: String
    /// With TLS: every node speaks only TLS (clients, cluster bus, replication), and these
    /// are redis-cli's options to reach it.
    public let tls: RedisServer.TLS?
    private let cliTLS: [String]

    /// All node ports, masters first in creation order.
    public var ports: [Int] { nodes.map(\.port) }

    /// The store URL with the masters it was created with as seeds.
    public var url: String {
        (tls == nil ? "redis+cluster://" : "rediss+cluster://")
            + nodes.prefix(masterCount).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
    }

    private init(nodes: [Node], masterCount: Int, processes: [ManagedProcess], directory: String, tool: String, tls: RedisServer.TLS?) {
        self.nodes = nodes
        self.masterCount = masterCount
        self.processes = processes
        self.directory = directory
        self.tool = tool
        self.tls = tls
        self.cliTLS = Self.cliOptions(tls)
    }

    private static func cliOptions(_ tls: RedisServer.TLS?) -> [String] {
        guard let tls else { return [] }
        return ["--tls", "--cacert", tls.certificates.ca, "--cert", tls.certificates.clientCert, "--key", tls.certificates.clientKey]
    }

    /// Starts the nodes (each with `--cluster-enabled yes`, `--cluster-node-timeout`
    /// `nodeTimeout`, no persistence, bound to 127.0.0.1), creates the cluster and waits
    /// until every node reports `cluster_state:ok`, knows every other node, agrees with
    /// the others on who owns which slot, and every replica's link to its master is up
    /// (a replica that never synced would not be promoted).
    public static func start(masters: Int = 3, replicasPerMaster: Int = 0, nodeTimeout: Duration = .milliseconds(1000),
                             tls: RedisServer.TLS? = nil) async throws -> RedisTestCluster {
        guard masters >= 3, replicasPerMaster >= 0 else {
            throw TestSupportError(.launchFailed, "redis-cli --cluster create needs at least 3 masters (asked for \(masters))")
        }
        let binary = ProcessInfo.processInfo.environment["SIDECACHE_TEST_REDIS_SERVER"] ?? ManagedProcess.locate("redis-server")
        guard let binary else { throw TestSupportError(.launchFailed, "redis-server not found: run the tests with `make test`") }
        let sibling = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("redis-cli").path
        let tool = FileManager.default.isExecutableFile(atPath: sibling) ? sibling : "redis-cli"
        let count = masters * (1 + replicasPerMaster)
        // A port (or its bus port, +10000) can still be taken by another process between
        // choosing it and redis binding it: then that node exits at once, and the whole
        // cluster is started again on new ports.
        var attempt = 0
        while true {
            attempt += 1
            let directory = NSTemporaryDirectory() + "sidecache-cluster-\(UUID().uuidString)"
            var processes: [ManagedProcess] = []
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let ports = try (0..<count).map { _ in try freeLoopbackPort(pairedAt: 10000) }   // with the bus port
                for port in ports {
                    let dir = directory + "/\(port)"
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    let listen = tls.map { tls in
                        ["--port", "0", "--tls-port", String(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                         "--tls-cert-file", tls.certificates.serverCert, "--tls-key-file", tls.certificates.serverKey,
                         "--tls-ca-cert-file", tls.certificates.ca, "--tls-auth-clients", tls.clientCertificates ? "yes" : "no",
                         // Nodes connect to each other (bus, replication) as clients: with the client certificate.
                         "--tls-client-cert-file", tls.certificates.clientCert, "--tls-client-key-file", tls.certificates.clientKey]
                    } ?? ["--port", String(port)]
                    // The bus port is `port` + 10000 by default, and `port` is 0 with TLS.
                    + ["--cluster-port", String(port + 10000)]
                    processes.append(try ManagedProcess(binary, arguments: listen + [
                        "--bind", "127.0.0.1", "--daemonize", "no",
                        "--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", dir + "/nodes.conf",
                        "--cluster-node-timeout", String(nodeTimeout.milliseconds),
                        // A replica takes over however long ago it last heard its master: a
                        // loaded machine must not make a test's failover depend on timing.
                        "--cluster-replica-validity-factor", "0",
                        "--save", "", "--appendonly", "no",
                    ]))
                }
                var nodes: [Node] = []
                for (port, process) in zip(ports, processes) {
                    let id = try await answer(port: port, process: process, tool: tool, tls: cliOptions(tls))
                    nodes.append(Node(port: port, id: id))
                }
                let cluster = RedisTestCluster(nodes: nodes, masterCount: masters, processes: processes,
                                               directory: directory, tool: tool, tls: tls)
                try await cluster.create(replicasPerMaster: replicasPerMaster)
                return cluster
            } catch let error as TestSupportError where error.kind == .launchFailed && attempt < 5 {
                await discard(processes, directory: directory)
                continue
            } catch {
                await discard(processes, directory: directory)
                throw error
            }
        }
    }

    /// Runs one command through redis-cli (no `-c`: a redirect comes back as the error
    /// text) on the node at `port`; its raw output, trimmed.
    @discardableResult
    public func cli(port: Int, _ arguments: String...) async throws -> String {
        try await cli(port: port, arguments)
    }

    @discardableResult
    public func cli(port: Int, _ arguments: [String]) async throws -> String {
        try await Self.run(tool, ["-h", "127.0.0.1", "-p", String(port), "--raw"] + cliTLS + arguments).output
    }

    /// The current masters (flagged `master` and not `fail`) and their slot ranges, from
    /// CLUSTER NODES on the first live node that answers, in creation order. A killed
    /// master counts until the others have marked it failed, with the slots it had.
    public func masters() async throws -> [Master] {
        var seen: [String] = []
        for node in live {
            let text = try await cli(port: node.port, "CLUSTER", "NODES")
            let entries = Self.parseNodes(text)
            guard entries.contains(where: \.isMyself) else {
                seen.append("\(node.port): \(text)")
                continue
            }
            return entries.filter(\.isMaster)
                .sorted { order($0.port) < order($1.port) }
                .map { (port: $0.port, id: $0.id, slots: $0.slots) }
        }
        throw TestSupportError(.unexpectedReply, "no live node answered CLUSTER NODES:\n" + seen.joined(separator: "\n"))
    }

    /// The port of the master owning `slot` now (as the first live node sees it).
    public func owner(ofSlot slot: Int) async throws -> Int? {
        try await masters().first { master in master.slots.contains { $0.contains(slot) } }?.port
    }

    /// Moves `slots` slots from the master on port `from` to the master on port `to` with
    /// `redis-cli --cluster reshard` (keys migrated 10 at a time), then waits until every
    /// live node agrees on the new owners. Throws with redis-cli's output if it exits
    /// non-zero or runs longer than 60 s. Fine while clients send traffic.
    public func reshard(from: Int, to: Int, slots: Int) async throws {
        guard let source = nodes.first(where: { $0.port == from }), let target = nodes.first(where: { $0.port == to }) else {
            throw TestSupportError(.unexpectedReply, "reshard \(from) → \(to): not a node of this cluster (\(ports))")
        }
        let live = self.live
        guard let entry = live.first(where: { $0.port == from }) ?? live.first else {
            throw TestSupportError(.unexpectedReply, "reshard \(from) → \(to): no live node")
        }
        let timeout = Duration.seconds(60)
        let (output, status) = try await Self.run(tool, cliTLS + [
            "--cluster", "reshard", "127.0.0.1:\(entry.port)",
            "--cluster-from", source.id, "--cluster-to", target.id, "--cluster-slots", String(slots),
            "--cluster-yes", "--cluster-pipeline", "10",
        ], timeout: timeout)
        guard status == 0 else {
            let how = status.map { "exited \($0)" } ?? "was still running after \(timeout)"
            throw TestSupportError(.unexpectedReply, "redis-cli --cluster reshard \(from) → \(to) (\(slots) slots) \(how):\n\(output)")
        }
        let agreed = try await eventually(timeout: .seconds(10)) { [self] in try await agreement() != nil }
        guard agreed else {
            let view = await describe()
            throw TestSupportError(.timeout, "after reshard \(from) → \(to) the nodes did not agree within 10 s:\n\(view)")
        }
    }

    /// SIGKILL: the node vanishes mid-whatever, as in a crash.
    public func kill(port: Int) {
        guard let index = nodes.firstIndex(where: { $0.port == port }) else { return }
        processes[index].kill()
    }

    /// Waits until every live node reports `cluster_state:ok`, and they all agree that
    /// every slot is owned by a master that is alive (after a kill: once a replica was
    /// promoted and the others heard of it). Throws `.timeout` with each node's view.
    public func waitUntilHealthy(timeout: Duration) async throws {
        let healthy = try await eventually(timeout: timeout) { [self] in
            guard let owners = try await agreement() else { return false }
            let alive = Set(live.map(\.port))
            let covered = owners.reduce(0) { sum, owner in sum + owner.slots.reduce(0) { $0 + $1.count } }
            return covered == RedisSlot.count && owners.allSatisfy { alive.contains($0.port) }
        }
        guard healthy else {
            let view = await describe()
            throw TestSupportError(.timeout, "cluster not healthy within \(timeout):\n\(view)")
        }
    }

    /// Kills every node, waits for them and removes the temp directory.
    public func stop() async {
        await Self.discard(processes, directory: directory)
    }

    // MARK: - Internals

    /// The nodes whose process still runs.
    private var live: [Node] {
        zip(nodes, processes).filter { $0.1.isRunning }.map(\.0)
    }

    /// Position in `nodes` (unknown ports last), for ordering masters by creation.
    private func order(_ port: Int) -> Int {
        nodes.firstIndex { $0.port == port } ?? nodes.count
    }

    /// `redis-cli --cluster create`, then waits until the cluster has settled (see `start`).
    private func create(replicasPerMaster: Int) async throws {
        let timeout = Duration.seconds(60)
        let (output, status) = try await Self.run(tool, cliTLS + ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" }
                                                  + ["--cluster-replicas", String(replicasPerMaster), "--cluster-yes"],
                                                  timeout: timeout)
        guard status == 0 else {
            let how = status.map { "exited \($0)" } ?? "was still running after \(timeout)"
            throw TestSupportError(.launchFailed, "redis-cli --cluster create \(how):\n\(output)")
        }
        let settled = try await eventually(timeout: .seconds(30)) { [self] in
            for node in nodes {
                let info = try await cli(port: node.port, "CLUSTER", "INFO")
                guard Self.field("cluster_state", in: info) == "ok",
                      Self.field("cluster_known_nodes", in: info) == String(nodes.count),
                      Self.field("cluster_size", in: info) == String(masterCount) else { return false }
            }
            for node in nodes.dropFirst(masterCount) {
                let replication = try await cli(port: node.port, "INFO", "replication")
                guard Self.field("master_link_status", in: replication) == "up" else { return false }
            }
            return try await agreement() != nil
        }
        guard settled else {
            let view = await describe()
            throw TestSupportError(.launchFailed, "the cluster did not settle within 30 s:\n\(view)")
        }
    }

    /// The masters owning slots, if every live node reports `cluster_state:ok` and they all
    /// list the same ones with the same slots; nil otherwise.
    private func agreement() async throws -> [Entry]? {
        var common: [Entry]?
        for node in live {
            let info = try await cli(port: node.port, "CLUSTER", "INFO")
            guard Self.field("cluster_state", in: info) == "ok" else { return nil }
            let table = try await cli(port: node.port, "CLUSTER", "NODES")
            let owners = Self.parseNodes(table)
                .filter { $0.isMaster && !$0.slots.isEmpty }
                .map { Entry(id: $0.id, port: $0.port, flags: [], slots: $0.slots) }   // "myself" differs per node
                .sorted { $0.id < $1.id }
            guard !owners.isEmpty else { return nil }
            if let common, common != owners { return nil }
            common = owners
        }
        return common
    }

    /// Each live node's CLUSTER INFO state and CLUSTER NODES, for a failure message.
    private func describe() async -> String {
        var out: [String] = []
        for (node, process) in zip(nodes, processes) {
            guard process.isRunning else {
                out.append("== \(node.port) (\(node.id)): not running (exit \(process.exitStatus.map { String($0) } ?? "?"))")
                continue
            }
            let info = (try? await cli(port: node.port, "CLUSTER", "INFO")) ?? ""
            let state = Self.field("cluster_state", in: info) ?? "?"
            let table = (try? await cli(port: node.port, "CLUSTER", "NODES")) ?? "(no answer)"
            out.append("== \(node.port) (\(node.id)): cluster_state:\(state)\n\(table)")
        }
        return out.joined(separator: "\n")
    }

    /// Waits until the node on `port` answers as this very process (not another test's
    /// redis-server that got the port) and returns its CLUSTER MYID.
    private static func answer(port: Int, process: ManagedProcess, tool: String, tls: [String]) async throws -> String {
        let address = ["-h", "127.0.0.1", "-p", String(port), "--raw"] + tls
        let answered = try await eventually(timeout: .seconds(10)) {
            if process.exitStatus != nil { return true }
            let info = try await run(tool, address + ["INFO", "server"]).output
            guard let at = info.range(of: "process_id:") else { return false }
            return Int(info[at.upperBound...].prefix(while: \.isNumber)) == Int(process.pid)
        }
        guard answered, process.exitStatus == nil else {
            _ = await process.waitForExit(timeout: .seconds(1))   // its last words, for the message
            throw TestSupportError(.launchFailed, "cluster node on \(port) did not answer:\n\(process.output)")
        }
        let id = try await run(tool, address + ["CLUSTER", "MYID"]).output
        guard id.count == 40, id.allSatisfy(\.isHexDigit) else {
            throw TestSupportError(.unexpectedReply, "CLUSTER MYID on \(port): \(id)")
        }
        return id
    }

    /// Runs redis-cli; its output (stdout and stderr), trimmed, and its exit status, or
    /// nil when it was still running after `timeout` (it is killed then).
    private static func run(_ tool: String, _ arguments: [String],
                            timeout: Duration = .seconds(10)) async throws -> (output: String, status: Int32?) {
        let p = try ManagedProcess(tool, arguments: arguments)
        guard let status = await p.waitForExit(timeout: timeout) else {
            p.kill()
            _ = await p.waitForExit(timeout: .seconds(2))
            return (p.output.trimmingCharacters(in: .whitespacesAndNewlines), nil)
        }
        return (p.output.trimmingCharacters(in: .whitespacesAndNewlines), status)
    }

    private static func discard(_ processes: [ManagedProcess], directory: String) async {
        for p in processes { p.kill() }
        for p in processes { _ = await p.waitForExit(timeout: .seconds(5)) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
