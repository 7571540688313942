import Foundation
import Logging
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Synchronization
import Testing

extension RedisTopologies {
    /// `redis+cluster://`: real clusters on loopback made by `redis-cli --cluster create`,
    /// two proxy instances in front of one scripted origin; slots resharded and a master
    /// killed while requests flow.
    @Suite("Redis Cluster", .serialized)
    struct RedisClusterTests {
        static let routes = #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m", "staleWhileRevalidate": "1m" }]"#
        static let purge = #"[ { "on": "PUT /api/users/{id}", "paths": ["/api/users/{id}"] } ]"#

        static func withCluster(masters: Int = 3, replicasPerMaster: Int = 0, tls: RedisServer.TLS? = nil,
                                _ body: (RedisTestCluster) async throws -> Void) async throws {
            let cluster = try await RedisTestCluster.start(masters: masters, replicasPerMaster: replicasPerMaster, tls: tls)
            do {
                try await body(cluster)
            } catch {
                await cluster.stop()
                throw error
            }
            await cluster.stop()
        }

        /// `body` with a `Pair`, stopped afterwards whether `body` threw or not.
        static func withPair(urlA: String, urlB: String, memory: String = "0", consistency: String = "strict", tls: String? = nil,
                             _ body: (Pair) async throws -> Void) async throws {
            let pair = try await Pair(urlA: urlA, urlB: urlB, memory: memory, consistency: consistency, tls: tls)
            do {
                try await body(pair)
            } catch {
                await pair.stop()
                throw error
            }
            await pair.stop()
        }

        /// Two instances on `url` (each may have its own seeds), in front of an origin whose
        /// GET answers carry a version that each PUT of the path counts up.
        final class Pair: Sendable {
            let origin: ScriptedOrigin
            let a: ProxyServer
            let b: ProxyServer
            let logs = LogCapture()
            private let versions = Versions()

            /// The version each path is at (PUTs count it up from 1).
            final class Versions: Sendable {
                let table = Mutex<[String: Int]>([:])
            }

            /// `tls`: the members of `store.tls`.
            init(urlA: String, urlB: String, memory: String, consistency: String, tls: String?) async throws {
                let origin = try await ScriptedOrigin.start()
                let versions = self.versions
                origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)","v":\#(versions.table.withLock { $0[req.path, default: 1] })}"#) }
                origin.on("PUT", "/api/users/*") { req in versions.table.withLock { $0[req.path, default: 1] += 1 }; return .json("{}") }
                self.origin = origin
                let store = #""memory": "\#(memory)", "consistency": "\#(consistency)", "timeout": "1s""# + (tls.map { #", "tls": {\#($0)}"# } ?? "")
                a = try await Self.proxy(url: urlA, origin: origin, store: store, logger: logs.logger)
                b = try await Self.proxy(url: urlB, origin: origin, store: store, logger: logs.logger)
            }

            private static func proxy(url: String, origin: ScriptedOrigin, store: String, logger: Logger) async throws -> ProxyServer {
                let config = try ConfigLoader.parse(Data("""
                { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)", "store": { "redis": "\(url)", \(store) },
                  "routes": \(RedisClusterTests.routes), "purge": \(RedisClusterTests.purge), \(adminJSON) }
                """.utf8), environment: [:])
                let server = try ProxyServer(config: config, logger: logger)
                try await server.start()
                return server
            }

            func version(_ path: String) -> Int { versions.table.withLock { $0[path, default: 1] } }

            func get(_ server: ProxyServer, _ path: String) async throws -> TestResponse {
                try await TestHTTPClient.request(port: server.port!, "GET", path, headers: [("Host", "api.example")])
            }

            func put(_ server: ProxyServer, _ path: String) async throws -> TestResponse {
                try await TestHTTPClient.request(port: server.port!, "PUT", path, headers: [("Host", "api.example")], body: Array("{}".utf8))
            }

            func stop() async {
                await a.shutdown(grace: .seconds(1))
                await b.shutdown(grace: .seconds(1))
                try? await origin.shutdown()
            }
        }

        static func entries(on port: Int, of cluster: RedisTestCluster) async throws -> Int {
            try await cluster.cli(port: port, "--scan", "--pattern", "sidecache:{*}e:*").split(separator: "\n").count
        }

        /// Fills on one instance are hits on the other, entries are spread over the masters
        /// (no hot slot), a purge on one is seen by the other, and /stats sums the cluster.
        @Test func twoInstancesShareOneCluster() async throws {
            try await Self.withCluster { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    for n in 1...30 {
                        let fill = try await pair.get(pair.a, "/api/users/\(n)")
                        #expect(fill.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                        let hit = try await pair.get(pair.b, "/api/users/\(n)")
                        #expect(hit.header("X-Cache") == "HIT", "no L1: the hit came from the cluster")
                    }
                    #expect(pair.origin.requests.filter { $0.method == "GET" }.count == 30, "one upstream fetch per path")
                    var perMaster: [Int] = []
                    for master in try await cluster.masters() { perMaster.append(try await Self.entries(on: master.port, of: cluster)) }
                    #expect(perMaster.reduce(0, +) == 30, "every entry is on some master: \(perMaster)")
                    #expect(perMaster.filter { $0 > 0 }.count == 3, "entries are spread over every master: \(perMaster)")

                    #expect(try await pair.put(pair.a, "/api/users/7").status == 200)
                    let after = try await pair.get(pair.b, "/api/users/7")
                    #expect(after.text.contains(#""v":2"#), "the purge on A is seen by B at once: \(after.text)")

                    // A soft purge marks the counters in all 64 stripes: B serves the entry stale, refreshed once.
                    let soft = try await adminCall(port: pair.a.adminPort!, "POST", "/purge", json: #"{"path": "/api/users/9", "mode": "stale"}"#)
                    #expect(soft.status == 200)
                    #expect(try await pair.get(pair.b, "/api/users/9").header("X-Cache") == "STALE")
                    #expect(try await eventually { try await pair.get(pair.a, "/api/users/9").header("X-Cache") == "HIT" })
                    #expect(pair.origin.count("GET", path: "/api/users/9") == 2, "one fill, one refresh")

                    // A tag purge counts every stripe's tag purges up, then marks the tag in each.
                    let tag = try await adminCall(port: pair.a.adminPort!, "POST", "/purge", json: #"{"tag": "user-7"}"#)
                    #expect(tag.status == 200)
                    #expect(pair.a.redisStatus?.l2 == "usable", "the tag purge reached every stripe (not journaled)")
                    var marks = 0
                    for master in try await cluster.masters() {
                        marks += try await cluster.cli(port: master.port, "--scan", "--pattern", "sidecache:{*}t:*").split(separator: "\n").count
                    }
                    #expect(marks == 64, "one mark per stripe: \(marks)")

                    let stats = try await adminCall(port: pair.a.adminPort!, "GET", "/stats")
                    #expect(stats.json["redis"]?["cluster"]?["masters"]?.int == 3)
                    #expect(stats.json["redis"]?["entries"]?.int == 30, "entries summed over the masters")
                    #expect(stats.json["redis"]?["connected"] == .bool(true))
                }
            }
        }

        /// Fast mode across nodes: A and B seeded with different masters, so they subscribe on
        /// different nodes; A's purge message is published on another node than B's and
        /// still drops B's L1 copy.
        @Test func fastModeInvalidationCrossesNodes() async throws {
            try await Self.withCluster { cluster in
                let masters = try await cluster.masters()
                // A publishes on the master of the first stripe's slot (in slots 0..<256).
                let publisher = try #require(try await cluster.owner(ofSlot: 0))
                let other = try #require(masters.first { $0.port != publisher }?.port)
                try await Self.withPair(urlA: "redis+cluster://127.0.0.1:\(publisher)", urlB: "redis+cluster://127.0.0.1:\(other)",
                                          memory: "64MiB", consistency: "fast") { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    #expect(try await eventually {
                        try await cluster.cli(port: other, "PUBSUB", "NUMSUB", "sidecache:purge").hasSuffix("\n1")
                    }, "B listens on its own seed, not on the node A publishes to")
                    _ = try await pair.get(pair.a, "/api/users/1")
                    #expect(try await pair.get(pair.b, "/api/users/1").header("X-Cache") == "HIT")
                    #expect(try await pair.get(pair.b, "/api/users/1").header("X-Cache") == "HIT", "now from B's L1")
                    #expect(try await pair.put(pair.a, "/api/users/1").status == 200)
                    #expect(try await eventually { try await pair.get(pair.b, "/api/users/1").text.contains(#""v":2"#) },
                            "B's L1 copy went when A's purge message arrived from another node")
                }
            }
        }

        /// Two reshards while both instances serve and purge: no client sees an error, no
        /// purged answer is served again, and the redirects were followed (counted), not failed.
        @Test func reshardingUnderTrafficCausesNoErrors() async throws {
            try await Self.withCluster { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    let paths = (1...40).map { "/api/users/\($0)" }
                    for path in paths { _ = try await pair.get(pair.a, path) }
                    let served = Atomic(0), failures = Mutex<[String]>([])
                    let resharding = Atomic(true)
                    let traffic = Task {
                        var n = 0
                        while resharding.load(ordering: .relaxed) {
                            n += 1
                            let path = paths[n % paths.count]
                            let (writer, reader) = n % 2 == 0 ? (pair.a, pair.b) : (pair.b, pair.a)
                            if n % 10 == 0 {
                                let put = try await pair.put(writer, path)
                                if put.status != 200 { failures.withLock { $0.append("PUT \(path): \(put.status)") } }
                                let want = pair.version(path)
                                let after = try await pair.get(reader, path)
                                if !after.text.contains(#""v":\#(want)"#) { failures.withLock { $0.append("stale after purge: \(after.text)") } }
                            } else {
                                let got = try await pair.get(reader, path)
                                if got.status != 200 { failures.withLock { $0.append("GET \(path): \(got.status)") } }
                            }
                            served.add(1, ordering: .relaxed)
                        }
                    }
                    let masters = try await cluster.masters()
                    try await cluster.reshard(from: masters[0].port, to: masters[1].port, slots: 3000)
                    try await cluster.reshard(from: masters[2].port, to: masters[0].port, slots: 3000)
                    // Let the traffic meet the new map for a while (and a few periodic refreshes).
                    let before = served.load(ordering: .relaxed)
                    _ = try await eventually(timeout: .seconds(30)) { served.load(ordering: .relaxed) >= before + 200 }
                    resharding.store(false, ordering: .relaxed)
                    try await traffic.value

                    #expect(served.load(ordering: .relaxed) > 200)
                    #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
                    let redirects = [pair.a, pair.b].map { $0.redisStatus?.cluster?.redirects ?? 0 }.reduce(0, +)
                    #expect(redirects > 0, "traffic met moved slots and followed them")
                    // The cluster serves from the new owners: every path is a hit or is stored again.
                    for path in paths {
                        let first = try await pair.get(pair.a, path)
                        #expect(first.status == 200)
                        #expect(try await pair.get(pair.b, path).header("X-Cache") == "HIT", "\(path) served from the new owner")
                    }
                }
            }
        }

        /// A master killed under traffic: its replica takes over, every request is answered
        /// 200 meanwhile (its slots bypass L2 until then), and fills land on the new master.
        @Test func aMasterKilledUnderTrafficIsFailedOverWithoutErrors() async throws {
            try await Self.withCluster(replicasPerMaster: 1) { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    let paths = (1...30).map { "/api/users/\($0)" }
                    for path in paths { _ = try await pair.get(pair.a, path) }
                    #expect(try await pair.put(pair.a, "/api/users/3").status == 200)

                    let victim = try await cluster.masters()[0].port
                    cluster.kill(port: victim)
                    let answered = Atomic(0), failed = Atomic(0)
                    let healed = try await eventually(timeout: .seconds(60)) {
                        let n = answered.add(1, ordering: .relaxed).newValue
                        if try await pair.get(n % 2 == 0 ? pair.a : pair.b, paths[n % paths.count]).status != 200 { failed.add(1, ordering: .relaxed) }
                        guard try await !cluster.masters().contains(where: { $0.port == victim }) else { return false }
                        return true
                    }
                    #expect(healed, "a replica took over")
                    try await cluster.waitUntilHealthy(timeout: .seconds(30))
                    #expect(answered.load(ordering: .relaxed) > 0 && failed.load(ordering: .relaxed) == 0, "every request was answered 200")
                    #expect(try await pair.get(pair.b, "/api/users/3").text.contains(#""v":2"#), "the purge survived the failover")
                    // Once the proxy has the new map, fills on every slot are stored again.
                    let fresh = Atomic(1000)
                    #expect(try await eventually(timeout: .seconds(30)) {
                        for _ in 0..<10 {
                            let n = fresh.add(1, ordering: .relaxed).newValue
                            guard try await pair.get(pair.a, "/api/users/\(n)").header("Cache-Status") == "sidecache; fwd=uri-miss; stored" else {
                                return false
                            }
                        }
                        return true
                    })
                    var stored = 0
                    for n in 200..<230 where try await pair.get(pair.a, "/api/users/\(n)").header("Cache-Status") == "sidecache; fwd=uri-miss; stored" {
                        stored += 1
                    }
                    #expect(stored == 30, "every new fill lands, the promoted replica's slots included")
                }
            }
        }

        /// A master gone with no replica to take over: a purge that cannot reach it is
        /// journaled, the mutation is still answered, and nothing purged is served meanwhile
        /// (L2 is not read until the journal is in); every request is answered 200.
        @Test func aPurgeThatCannotReachAMasterIsJournaled() async throws {
            try await Self.withCluster { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    for n in 1...10 { _ = try await pair.get(pair.a, "/api/users/\(n)") }
                    #expect(try await pair.get(pair.b, "/api/users/4").header("X-Cache") == "HIT")
                    cluster.kill(port: try await cluster.masters()[1].port)
                    let put = try await pair.put(pair.a, "/api/users/4")
                    #expect(put.status == 200, "the mutation is answered")
                    #expect(try await eventually { pair.a.redisStatus?.l2 == "purges-pending" })
                    for n in 1...10 {
                        let got = try await pair.get(n % 2 == 0 ? pair.a : pair.b, "/api/users/\(n)")
                        #expect(got.status == 200)
                        if n == 4 { #expect(got.text.contains(#""v":2"#), "the purged answer is not served: \(got.text)") }
                    }
                    #expect(try await pair.get(pair.a, "/api/users/4").text.contains(#""v":2"#))
                }
            }
        }

        /// A purge whose `WAIT` came short (its replica not syncing) is journaled; its
        /// replay waited for no replica, landed on the master alone and left the journal,
        /// and when that replica took over, both instances served the purged answer for
        /// good. Now the replay waits as the purge did, so it stays journaled until a
        /// master with its replicas has it, and lands on the promoted replica.
        @Test func aPurgeNotOnItsReplicaSurvivesThatReplicasTakeover() async throws {
            try await Self.withCluster(replicasPerMaster: 1) { cluster in
                // The seeds are the masters, all killed below: the replicas the map named are
                // what the proxies find the promoted ones by (they asked the seeds alone).
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    // Purges wait for the replicas the map says are online: a map asked for
                    // while they still synced says none (the next comes within 5 s).
                    #expect(try await eventually(timeout: .seconds(15)) {
                        pair.a.redisStatus?.cluster?.replicas == cluster.masterCount
                    }, "A's map knows the replicas")
                    for n in 1...10 { _ = try await pair.get(pair.a, "/api/users/\(n)") }
                    #expect(try await pair.get(pair.b, "/api/users/4").header("X-Cache") == "HIT")
                    let masters = cluster.nodes.prefix(cluster.masterCount).map(\.port)
                    let replicas = cluster.nodes.dropFirst(cluster.masterCount).map(\.port)
                    for port in replicas {
                        _ = try await cluster.cli(port: port, "CONFIG", "SET", "masteruser", "nosuchuser")
                        _ = try await cluster.cli(port: port, "CONFIG", "SET", "masterauth", "wrong")
                    }
                    for port in masters { _ = try await cluster.cli(port: port, "CLIENT", "KILL", "TYPE", "replica") }
                    #expect(try await pair.put(pair.a, "/api/users/4").status == 200)
                    #expect(pair.logs.all.contains { $0.contains("purge journaled") }, "its WAIT came short: \(pair.logs.all.suffix(5))")
                    #expect(try await pair.get(pair.b, "/api/users/4").text.contains(#""v":2"#), "on the master: purged")
                    // Replays come on a backoff: a few have run within 3 s. One that waited for
                    // no replica settled the journal here, with the purge on the masters alone.
                    _ = try await eventually(timeout: .seconds(3)) { pair.a.redisStatus?.l2 == "usable" }
                    #expect(pair.a.redisStatus?.l2 == "purges-pending", "the replay waits for the replicas too")
                    for port in masters { cluster.kill(port: port) }
                    for port in replicas {
                        _ = try await cluster.cli(port: port, "CONFIG", "SET", "masteruser", "")
                        _ = try await cluster.cli(port: port, "CLUSTER", "FAILOVER", "TAKEOVER")
                    }
                    try await cluster.waitUntilHealthy(timeout: .seconds(30))
                    // B reads the promoted replicas (an entry of before is a hit there), and A's
                    // journal is in: the promoted replicas never had the purge but from it.
                    #expect(try await eventually(timeout: .seconds(15)) {
                        try await pair.get(pair.b, "/api/users/7").header("X-Cache") == "HIT"
                    }, "B reads the new masters")
                    #expect(try await eventually(timeout: .seconds(15)) { pair.a.redisStatus?.l2 == "usable" }, "A's journal replayed")
                    for _ in 0..<3 {
                        let got = try await pair.get(pair.b, "/api/users/4")
                        #expect(got.text.contains(#""v":2"#), "the purged answer came back with the takeover: \(got.text) \(got.header("X-Cache") ?? "")")
                    }
                }
            }
        }

        /// While a master is away every failed command asks for the slot map; each request
        /// that ended scheduled the next, and chains started in between never merged: some
        /// 75 `CLUSTER SHARDS` a second after 30 s. One chain now: about two a second.
        @Test func aMasterAwayIsAskedAboutByOneChainOfMapRequests() async throws {
            try await Self.withCluster { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    cluster.kill(port: try await cluster.masters()[1].port)
                    let before = pair.a.redisStatus?.cluster?.mapRequests ?? 0
                    let start = ContinuousClock.now
                    var n = 0
                    while ContinuousClock.now - start < .seconds(4) {
                        n += 1
                        #expect(try await pair.get(pair.a, "/api/users/\(n % 40)").status == 200)
                    }
                    let made = (pair.a.redisStatus?.cluster?.mapRequests ?? 0) - before
                    // 4 s at one request every 500 ms (plus the 5 s timer): 8 or 9; twice that as margin.
                    #expect(made >= 2 && made <= 18, "\(made) map requests in 4 s over \(n) requests")
                }
            }
        }

        /// `rediss+cluster://` with mutual TLS: nodes that speak only TLS (clients, bus,
        /// replication), the slot map asked over TLS (`tls-port`s), every master reached.
        @Test func aClusterOverMutualTLS() async throws {
            let pki = try TestCertificates.make()
            defer { pki.remove() }
            try await Self.withCluster(tls: .init(certificates: pki, clientCertificates: true)) { cluster in
                #expect(cluster.url.hasPrefix("rediss+cluster://"))
                let tls = #""ca": "\#(pki.ca)", "cert": "\#(pki.clientCert)", "key": "\#(pki.clientKey)""#
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url, tls: tls) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    for n in 1...20 {
                        #expect(try await pair.get(pair.a, "/api/users/\(n)").header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                        #expect(try await pair.get(pair.b, "/api/users/\(n)").header("X-Cache") == "HIT")
                    }
                    var perMaster: [Int] = []
                    for master in try await cluster.masters() { perMaster.append(try await Self.entries(on: master.port, of: cluster)) }
                    #expect(perMaster.reduce(0, +) == 20 && perMaster.allSatisfy { $0 > 0 }, "every master holds entries: \(perMaster)")
                    #expect(try await pair.put(pair.b, "/api/users/5").status == 200)
                    #expect(try await pair.get(pair.a, "/api/users/5").text.contains(#""v":2"#))
                }
            }
        }

        /// Each stripe's epoch is tied to the node process holding it (`epoch-server`: node
        /// id and `run_id`), learnt again on every connection: a record naming another node
        /// (the stripe came by resharding or failover, its keys from the slot's owner) keeps
        /// the epoch and is rewritten; one naming this node under another process (the node
        /// restarted, maybe from a snapshot older than the last purges) replaces the epoch.
        @Test func anEpochIsReplacedAfterARestartNotAfterAMove() async throws {
            try await Self.withCluster { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    let masters = try await cluster.masters()
                    let (node, other) = (masters[0], masters[1])
                    let records = try await cluster.cli(port: node.port, "--scan", "--pattern", "sidecache:{*}epoch-server")
                        .split(separator: "\n").map(String.init).sorted()
                    try #require(records.count >= 2, "stripes on \(node.port): \(records)")
                    let info = try await cluster.cli(port: node.port, "INFO", "server")
                    let run = try #require(info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("run_id:") }?.dropFirst(7))
                    let here = "\(node.id) \(run)"
                    #expect(try await cluster.cli(port: node.port, "GET", records[0]) == here)
                    let (moved, restarted) = (records[0], records[1])
                    func epoch(_ record: String) async throws -> String {
                        try await cluster.cli(port: node.port, "GET", String(record.dropLast("-server".count)))
                    }
                    let (movedEpoch, restartedEpoch) = (try await epoch(moved), try await epoch(restarted))
                    _ = try await cluster.cli(port: node.port, "SET", moved, "\(other.id) \(String(repeating: "1", count: 40))")
                    _ = try await cluster.cli(port: node.port, "SET", restarted, "\(node.id) \(String(repeating: "2", count: 40))")
                    for master in masters { _ = try await cluster.cli(port: master.port, "CLIENT", "KILL", "TYPE", "normal") }
                    #expect(try await eventually {
                        let (a, b) = (try await cluster.cli(port: node.port, "GET", moved), try await cluster.cli(port: node.port, "GET", restarted))
                        return a == here && b == here
                    }, "learnt again on the new connections")
                    #expect(try await epoch(moved) == movedEpoch, "a stripe that moved keeps its epoch")
                    #expect(try await epoch(restarted) != restartedEpoch, "a restarted node's stripe gets a new one")
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                }
            }
        }

        /// A stripe moved whole to another node (its slot migrated and handed over) gets its
        /// `epoch-server` record rewritten once the proxies see the new map, without waiting
        /// for a connection to flap: left naming the old node, a later restart of the new
        /// one from an old snapshot would pass for a move, and keep the epoch.
        @Test func aMovedStripesRecordNamesItsNewNode() async throws {
            try await Self.withCluster { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    let masters = try await cluster.masters()
                    let (source, target) = (masters[0], masters[1])
                    let record = try #require(try await cluster.cli(port: source.port, "--scan", "--pattern", "sidecache:{*}epoch-server")
                        .split(separator: "\n").first.map(String.init))
                    let slot = try #require(Int(try await cluster.cli(port: source.port, "CLUSTER", "KEYSLOT", record)))
                    #expect(try await cluster.cli(port: target.port, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", source.id) == "OK")
                    #expect(try await cluster.cli(port: source.port, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", target.id) == "OK")
                    let keys = try await cluster.cli(port: source.port, "CLUSTER", "GETKEYSINSLOT", String(slot), "100")
                        .split(separator: "\n").map(String.init)
                    #expect(try await cluster.cli(port: source.port, ["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS"] + keys) == "OK")
                    for node in masters {
                        _ = try await cluster.cli(port: node.port, "CLUSTER", "SETSLOT", String(slot), "NODE", target.id)
                    }
                    let info = try await cluster.cli(port: target.port, "INFO", "server")
                    let run = try #require(info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("run_id:") }?.dropFirst(7))
                    #expect(try await eventually(timeout: .seconds(30)) {
                        try await cluster.cli(port: target.port, "GET", record) == "\(target.id) \(run)"
                    }, "the record names the node the stripe is on now")
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                }
            }
        }

        /// A slot caught mid-migration (`CLUSTER SETSLOT … MIGRATING/IMPORTING`, its keys
        /// already `MIGRATE`d): the old owner answers `ASK`, and the proxy asks the new one
        /// with `ASKING` — the hit is served and a purge reaches the moved counters.
        @Test func aSlotBeingMigratedIsFollowedWithAsk() async throws {
            try await Self.withCluster { cluster in
                try await Self.withPair(urlA: cluster.url, urlB: cluster.url) { pair in
                    #expect(try await eventually { pair.a.redisReady && pair.b.redisReady })
                    _ = try await pair.get(pair.a, "/api/users/1")
                    let masters = try await cluster.masters()
                    var found: (key: String, port: Int)?
                    for master in masters {
                        let key = try await cluster.cli(port: master.port, "--scan", "--pattern", "sidecache:{*}e:*")
                        if !key.isEmpty { found = (key, master.port) }
                    }
                    let (entry, sourcePort) = try #require(found)
                    let slot = try #require(Int(try await cluster.cli(port: sourcePort, "CLUSTER", "KEYSLOT", entry)))
                    let source = try #require(masters.first { $0.port == sourcePort })
                    let target = try #require(masters.first { $0.port != sourcePort })
                    #expect(try await cluster.cli(port: target.port, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", source.id) == "OK")
                    #expect(try await cluster.cli(port: source.port, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", target.id) == "OK")
                    let keys = try await cluster.cli(port: source.port, "CLUSTER", "GETKEYSINSLOT", String(slot), "100").split(separator: "\n").map(String.init)
                    #expect(keys.contains(entry) && keys.count >= 3, "the entry, its stripe's epoch and counters: \(keys)")
                    let migrated = try await cluster.cli(port: source.port, ["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS"] + keys)
                    #expect(migrated == "OK")
                    #expect(try await cluster.cli(port: source.port, "GET", entry).hasPrefix("ASK \(slot)"))

                    let before = pair.b.redisStatus?.cluster?.redirects ?? 0
                    let hit = try await pair.get(pair.b, "/api/users/1")
                    #expect(hit.header("X-Cache") == "HIT", "served from the importing node")
                    #expect((pair.b.redisStatus?.cluster?.redirects ?? 0) > before, "through an ASK redirect")
                    #expect(try await pair.put(pair.a, "/api/users/1").status == 200)
                    #expect(pair.a.redisStatus?.l2 == "usable", "the purge reached the moved counters (not journaled)")
                    #expect(try await pair.get(pair.b, "/api/users/1").text.contains(#""v":2"#))
                }
            }
        }
    }
}
