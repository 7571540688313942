import Foundation
import Logging
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Synchronization
import Testing

extension RedisTopologies {
    /// `redis+sentinel://`: a real master, its replica and three sentinels on loopback; the
    /// master is killed under traffic and the proxy follows the failover.
    @Suite("Redis Sentinel", .serialized)
    struct RedisSentinelTests {
        static let routes = #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }]"#
        static let purge = #"[ { "on": "PUT /api/users/{id}", "paths": ["/api/users/{id}"] } ]"#

        /// A master, its replica and three sentinels that know both; all stopped afterwards.
        static func withSentinels(tls: RedisServer.TLS? = nil,
                                  _ body: (RedisServer, RedisServer, [RedisSentinel]) async throws -> Void) async throws {
            let master = try await RedisServer.start(tls: tls)
            let replica = try await RedisServer.start(tls: tls, replicaOf: master.port)
            var sentinels: [RedisSentinel] = []
            func stopAll() async {
                for s in sentinels { await s.stop() }
                await replica.stop()
                await master.stop()
            }
            do {
                #expect(try await eventually { try await replica.cli("INFO", "replication").contains("master_link_status:up") })
                for _ in 0..<3 { sentinels.append(try await RedisSentinel.start(master: "mymaster", masterPort: master.port, quorum: 2, tls: tls)) }
                // Each sentinel must know the replica before the master goes, or none can promote it.
                for s in sentinels {
                    #expect(try await eventually(timeout: .seconds(20)) { try await s.ask("SENTINEL", "replicas", "mymaster").contains("\(replica.port)") })
                }
                try await body(master, replica, sentinels)
            } catch {
                await stopAll()
                throw error
            }
            await stopAll()
        }

        /// A started proxy on the sentinels' master with the PUT purge rule, Redis ready.
        static func withPurgingProxy(_ sentinels: [RedisSentinel], _ body: (ProxyServer) async throws -> Void) async throws {
            let origin = try await ScriptedOrigin.start()
            origin.on("GET", "/api/users/*", .json("{}"))
            origin.on("PUT", "/api/users/*", .json("{}"))
            let config = try ConfigLoader.parse(Data("""
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
              "store": { "redis": "\(url(sentinels))", "timeout": "1s" }, "routes": \(routes), "purge": \(purge) }
            """.utf8), environment: [:])
            let server = try ProxyServer(config: config, logger: Logger(label: "test"))
            try await server.start()
            try await stopping(server, origin) {
                #expect(try await eventually { server.redisReady })
                try await body(server)
            }
        }

        static func url(_ sentinels: [RedisSentinel], tls: Bool = false) -> String {
            (tls ? "rediss+sentinel://" : "redis+sentinel://") + sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "/mymaster"
        }

        /// A sentinel may name a server that is no master (its view not yet updated after a
        /// failover, a demoted master): the proxy asks the server itself (`ROLE`) and does not
        /// use a replica, which would serve entries whose purges it has not yet received.
        @Test func aServerTheSentinelNamesIsUsedOnlyIfItIsAMaster() async throws {
            let master = try await RedisServer.start()
            let replica = try await RedisServer.start(replicaOf: master.port)
            let sentinel = try await FakeSentinel.start(naming: replica.port)
            let origin = try await ScriptedOrigin.start()
            origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)"}"#) }
            let logs = LogCapture()
            let config = try ConfigLoader.parse(Data("""
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
              "store": { "memory": "0", "redis": "redis+sentinel://127.0.0.1:\(sentinel.port)/mymaster", "timeout": "1s" },
              "routes": \(Self.routes) }
            """.utf8), environment: [:])
            let server = try ProxyServer(config: config, logger: logs.logger)
            try await server.start()
            try await stopping(server, origin) {
                #expect(try await eventually { logs.all.contains { $0.contains("127.0.0.1:\(replica.port) is not a master") } })
                #expect(sentinel.questions >= 1)
                #expect(!server.redisReady)
                let answer = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/1", headers: [("Host", "api.example")])
                #expect(answer.status == 200)
                #expect(!logs.all.contains { $0.contains("redis connected") }, "\(logs.all.filter { $0.contains("redis") })")
            }
            await sentinel.stop()
            await replica.stop()
            await master.stop()
        }

        /// The sentinels are asked in turn (the first one here refuses connections), and the
        /// URL's credentials are the master's: a sentinel that got them (this one answers any
        /// command it does not know with an error) failed the greeting, and a master that
        /// did not refused every command.
        @Test func theSentinelsAreAskedInTurnAndTheCredentialsAreTheMasters() async throws {
            let master = try await RedisServer.start(password: "s3cret")
            let refusing = try RefusingPort()
            let sentinel = try await FakeSentinel.start(naming: master.port)
            let origin = try await ScriptedOrigin.start()
            origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)"}"#) }
            let config = try ConfigLoader.parse(Data("""
            { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
              "store": { "memory": "0", "redis": "redis+sentinel://:s3cret@127.0.0.1:\(refusing.port),127.0.0.1:\(sentinel.port)/mymaster",
                         "timeout": "1s" },
              "routes": \(Self.routes) }
            """.utf8), environment: [:])
            let server = try ProxyServer(config: config, logger: LogCapture().logger)
            try await server.start()
            try await stopping(server, origin) {
                let ready = try await eventually { server.redisReady }
                #expect(ready)
                #expect(sentinel.questions >= 1)
                let fill = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/1", headers: [("Host", "api.example")])
                #expect(fill.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                let keys = try await master.cli("KEYS", "sidecache:e:*")
                #expect(keys.split(separator: "\n").count == 1, "the entry is on the master the second sentinel named")
            }
            withExtendedLifetime(refusing) {}
            await sentinel.stop()
            await master.stop()
        }

        /// A manual failover (`SENTINEL FAILOVER`) leaves the old master up, demoted: the
        /// proxy hears `+switch-master` and moves to the new master without any error.
        @Test func aSwitchAnnouncedBySentinelIsFollowedWhileTheOldMasterLives() async throws {
            try await Self.withSentinels { master, replica, sentinels in
                let origin = try await ScriptedOrigin.start()
                origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)"}"#) }
                let logs = LogCapture()
                let config = try ConfigLoader.parse(Data("""
                { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
                  "store": { "memory": "0", "redis": "\(Self.url(sentinels))", "timeout": "1s" }, "routes": \(Self.routes) }
                """.utf8), environment: [:])
                let server = try ProxyServer(config: config, logger: logs.logger)
                try await server.start()
                try await stopping(server, origin) {
                    #expect(try await eventually { server.redisReady })
                    #expect(try await eventually { logs.all.contains { $0.contains("redis connected") && $0.contains("\(master.port)") } })
                    #expect(try await sentinels[0].ask("SENTINEL", "FAILOVER", "mymaster") == "OK")
                    #expect(try await eventually(timeout: .seconds(30)) { logs.all.contains { $0.contains("sentinel switched master") } })
                    #expect(try await eventually(timeout: .seconds(30)) {
                        logs.all.contains { $0.contains("redis connected") && $0.contains("\(replica.port)") }
                    })
                    #expect(try await eventually { server.redisReady })
                    let fill = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/3", headers: [("Host", "api.example")])
                    #expect(fill.header("Cache-Status") == "sidecache; fwd=uri-miss; stored", "the write went to the new master")
                }
            }
        }

        /// A purge is answered once the master's replica has it (`WAIT`), so the replica a
        /// failover promotes cannot be missing it. The failover test cannot tell: the new
        /// master's epoch makes every entry a miss there anyway.
        @Test func aPurgeWaitsForTheReplica() async throws {
            try await Self.withSentinels { master, _, sentinels in
                try await Self.withPurgingProxy(sentinels) { server in
                    let before = try await master.cli("INFO", "commandstats")
                    let put = try await TestHTTPClient.request(port: server.port!, "PUT", "/api/users/1", headers: [("Host", "api.example")],
                                                               body: Array("{}".utf8))
                    #expect(put.status == 200)
                    let after = try await master.cli("INFO", "commandstats")
                    #expect(!before.contains("cmdstat_wait:"))
                    #expect(after.contains("cmdstat_wait:calls="), "\(after)")
                }
            }
        }

        /// A purge waits for the replicas the master had at connect; replays of the journal
        /// do too. With the replica gone for good, every replay came short, the journal
        /// stayed pending and L2 went unread for as long. A purge that comes short asks the
        /// master how many replicas it has now (`ROLE`), and the replay waits for those.
        @Test func aReplicaGoneForGoodLeavesNoPurgePending() async throws {
            try await Self.withSentinels { master, replica, sentinels in
                try await Self.withPurgingProxy(sentinels) { server in
                    replica.kill()
                    #expect(try await eventually { try await master.cli("INFO", "replication").contains("connected_slaves:0") })
                    let put = try await TestHTTPClient.request(port: server.port!, "PUT", "/api/users/1", headers: [("Host", "api.example")],
                                                               body: Array("{}".utf8))
                    #expect(put.status == 200)
                    #expect(try await eventually(timeout: .seconds(15)) { server.redisStatus?.l2 == "usable" },
                            "l2: \(server.redisStatus?.l2 ?? "?")")
                }
            }
        }

        @Test func aFailoverUnderTrafficIsFollowed() async throws {
            try await Self.withSentinels { master, replica, sentinels in
                let origin = try await ScriptedOrigin.start()
                let version = Mutex(1)
                origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)","v":\#(version.withLock { $0 })}"#) }
                origin.on("PUT", "/api/users/1") { _ in version.withLock { $0 += 1 }; return .json("{}") }
                let url = Self.url(sentinels)
                let logs = LogCapture()
                // No L1: every answer comes from Redis or the upstream, so what Redis says is what is served.
                let config = try ConfigLoader.parse(Data("""
                { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
                  "store": { "memory": "0", "redis": "\(url)", "timeout": "1s" }, "routes": \(Self.routes), "purge": \(Self.purge) }
                """.utf8), environment: [:])
                let server = try ProxyServer(config: config, logger: logs.logger)
                try await server.start()
                try await stopping(server, origin) {
                    let port = server.port!
                    @Sendable func get(_ path: String) async throws -> TestResponse {
                        try await TestHTTPClient.request(port: port, "GET", path, headers: [("Host", "api.example")])
                    }
                    #expect(try await eventually { server.redisReady })
                    #expect(logs.all.contains { $0.contains("redis connected") && $0.contains("\(master.port)") })
                    #expect(try await get("/api/users/1").header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                    #expect(try await get("/api/users/1").header("X-Cache") == "HIT")
                    // A purge counts once the replica has it: the failover cannot lose it.
                    let put = try await TestHTTPClient.request(port: server.port!, "PUT", "/api/users/1", headers: [("Host", "api.example")],
                                                               body: Array("{}".utf8))
                    #expect(put.status == 200)

                    master.kill()
                    let answered = Atomic(0), failed = Atomic(0)
                    let watcher = sentinels[0]
                    let promoted = try await eventually(timeout: .seconds(30)) {
                        let n = answered.add(1, ordering: .relaxed).newValue
                        if try await get("/api/users/\(n % 5 + 2)").status != 200 { failed.add(1, ordering: .relaxed) }
                        return try await watcher.masterPort("mymaster") == replica.port && server.redisReady
                    }
                    #expect(promoted, "the replica was promoted and the proxy found it")
                    #expect(answered.load(ordering: .relaxed) > 0 && failed.load(ordering: .relaxed) == 0,
                            "every request during the failover was answered 200")
                    #expect(try await eventually { logs.all.contains { $0.contains("redis connected") && $0.contains("\(replica.port)") } })
                    let after = try await get("/api/users/1")
                    #expect(after.text.contains(#""v":2"#), "the purged answer did not come back with the failover: \(after.text)")
                    let fill = try await get("/api/users/9")
                    #expect(fill.header("Cache-Status") == "sidecache; fwd=uri-miss; stored", "fills go to the new master")
                    #expect(try await replica.cli("KEYS", "sidecache:e:*").split(separator: "\n").count >= 2)
                }
            }
        }

        /// `rediss+sentinel://` with mutual TLS everywhere (sentinels, master, replica): the
        /// master is found, used, and followed through a failover, all over TLS.
        @Test func sentinelOverMutualTLS() async throws {
            let pki = try TestCertificates.make()
            defer { pki.remove() }
            try await Self.withSentinels(tls: .init(certificates: pki, clientCertificates: true)) { master, replica, sentinels in
                let origin = try await ScriptedOrigin.start()
                origin.on("GET", "/api/users/*") { req in .json(#"{"path":"\#(req.path)"}"#) }
                let logs = LogCapture()
                let config = try ConfigLoader.parse(Data("""
                { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
                  "store": { "memory": "0", "redis": "\(Self.url(sentinels, tls: true))", "timeout": "1s",
                             "tls": { "ca": "\(pki.ca)", "cert": "\(pki.clientCert)", "key": "\(pki.clientKey)" } },
                  "routes": \(Self.routes) }
                """.utf8), environment: [:])
                let server = try ProxyServer(config: config, logger: logs.logger)
                try await server.start()
                try await stopping(server, origin) {
                    @Sendable func get(_ path: String) async throws -> TestResponse {
                        try await TestHTTPClient.request(port: server.port!, "GET", path, headers: [("Host", "api.example")])
                    }
                    let ready = try await eventually { server.redisReady }
                    #expect(ready)
                    #expect(logs.all.contains { $0.contains("redis connected") && $0.contains("\(master.port)") })
                    let fill = try await get("/api/users/1"), hit = try await get("/api/users/1")
                    #expect(fill.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                    #expect(hit.header("X-Cache") == "HIT")
                    let failover = try await sentinels[0].ask("SENTINEL", "FAILOVER", "mymaster")
                    #expect(failover == "OK")
                    let followed = try await eventually(timeout: .seconds(30)) {
                        logs.all.contains { $0.contains("redis connected") && $0.contains("\(replica.port)") }
                    }
                    #expect(followed, "the switch was heard over TLS and the new master reached over TLS")
                    let readyAgain = try await eventually { server.redisReady }
                    #expect(readyAgain)
                    let refill = try await get("/api/users/2")
                    #expect(refill.header("Cache-Status") == "sidecache; fwd=uri-miss; stored")
                }
            }
        }
    }
}
