import Foundation
import Logging
import SidecacheConfig
import SidecacheServer
import SidecacheTestSupport
import Testing

@Suite("Hot reload: SIGHUP and ProxyServer.reload")
struct ReloadTests {
    static func config(origin: ScriptedOrigin, routes: String, listen: String = "127.0.0.1:0", extra: String = "",
                       upstream: String? = nil) -> String {
        """
        { "listen": "\(listen)", "upstream": "\(upstream ?? origin.baseURL)", "routes": \(routes)\(extra.isEmpty ? "" : ", " + extra) }
        """
    }

    static let users = #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }]"#
    static let usersAndPosts = """
    [{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" },
     { "name": "post", "match": "GET /api/posts/{id}", "ttl": "5m" }]
    """

    /// A server started from a file, so reloads re-read that file.
    private func withServer(_ body: (ProxyServer, ScriptedOrigin, String, LogCapture) async throws -> Void) async throws {
        let origin = try await ScriptedOrigin.start()
        origin.on("GET", "/api/*", .json("{}"))
        let file = try writeTempConfig(Self.config(origin: origin, routes: Self.users))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let logs = LogCapture()
        let server = try ProxyServer(config: try ConfigLoader.load(file: file, environment: [:]), logger: logs.logger,
                                     accessLines: logs.accessLines)
        try await server.start()
        try await stopping(server, origin) { try await body(server, origin, file, logs) }
    }

    private func xCache(_ server: ProxyServer, _ path: String) async throws -> String? {
        try await TestHTTPClient.request(port: server.port!, "GET", path).header("X-Cache")
    }

    @Test func aGoodFileSwapsRoutesAndKeepsTheCacheAndConnections() async throws {
        try await withServer { server, origin, file, _ in
            _ = try await xCache(server, "/api/users/1")
            #expect(try await xCache(server, "/api/users/1") == "HIT")
            #expect(try await xCache(server, "/api/posts/1") == "BYPASS")   // no route yet: passes through
            let kept = try await TestHTTPClient.connect(port: server.port!)
            #expect(try await kept.send("GET", "/api/users/1").header("X-Cache") == "HIT")

            try Self.config(origin: origin, routes: Self.usersAndPosts).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            #expect(server.configGeneration == 2)

            #expect(try await xCache(server, "/api/users/1") == "HIT")      // the cache stayed
            #expect(try await kept.send("GET", "/api/users/1").header("X-Cache") == "HIT")   // so did the connection
            #expect(try await xCache(server, "/api/posts/1") == "MISS")     // the new route caches
            #expect(try await xCache(server, "/api/posts/1") == "HIT")
            #expect(origin.count(path: "/api/users/1") == 1)
            try await kept.close()
        }
    }

    /// Entries keep the spelling of the route that filled them. A write made while
    /// another config ruled (a reload, then a rollback) purged only the spelling that
    /// config gave its path, and the entry in the other was served again after the
    /// rollback: filled as `/api/docs/b` under a case-insensitive route, written as
    /// `/api/Docs/B` under an exact one or none; filled as `/api/Docs/B` under an exact
    /// route, written under a case-insensitive one (which spelled the purge lowercase).
    static let loose = #"[{ "name": "docs", "match": "GET /api/docs/*", "ttl": "5m", "paths": { "caseInsensitive": true } }]"#
    static let exact = #"[{ "name": "docs", "match": "GET /api/*", "ttl": "5m" }]"#
    @Test(arguments: [
        (loose, "/api/docs/b", users),
        (loose, "/api/docs/b", exact),
        (exact, "/api/Docs/B", loose),
    ])
    func aWriteUnderAnotherConfigPurgesEverySpellingOfItsPath(filling: String, filled: String, between: String) async throws {
        try await withServer { server, origin, file, _ in
            origin.on("PUT", "/api/*", .json("{}"))
            func apply(_ routes: String, generation: Int) async throws {
                try Self.config(origin: origin, routes: routes).write(toFile: file, atomically: true, encoding: .utf8)
                #expect(await server.reload(from: file, environment: [:]) == .applied(generation: generation, needsRestart: []))
            }
            try await apply(filling, generation: 2)
            _ = try await xCache(server, filled)
            #expect(try await xCache(server, filled) == "HIT")
            try await apply(between, generation: 3)
            #expect(try await TestHTTPClient.request(port: server.port!, "PUT", "/api/Docs/B").status == 200)
            try await apply(filling, generation: 4)
            #expect(try await xCache(server, filled) == "MISS", "the write's purge missed the entry's spelling")
            #expect(origin.count("GET", path: filled) == 2)
        }
    }

    /// A reload that changes how a route makes keys (who an entry belongs to, which
    /// headers scope it) leaves nothing stored under the old rules to answer under the
    /// new ones: a route `shared` by mistake, then given an identity, must not hand an
    /// anonymous client the answer a user's request stored.
    @Test(arguments: [
        (#""shared": true"#, ("Authorization", "Bearer alice"), #""key": { "identity": "Authorization" }"#),
        (#""key": { "headers": ["X-Tenant-Id"] }"#, ("X-Tenant-Id", "5"), #""key": { "headers": ["X-Account-Id"] }"#),
    ])
    func aReloadThatChangesHowKeysAreMadeLeavesNothingOfTheOldRules(before: String, user: (String, String), after: String) async throws {
        try await withServer { server, origin, file, _ in
            origin.on("GET", "/api/me") { req in
                let who = req.header("Authorization") ?? req.header("X-Tenant-Id").map { "tenant " + $0 }
                    ?? req.header("X-Account-Id").map { "account " + $0 } ?? "nobody"
                return .json(#"{"for":"\#(who)"}"#)
            }
            func route(_ key: String) -> String { #"[{ "name": "me", "match": "GET /api/me", "ttl": "5m", \#(key) }]"# }
            try Self.config(origin: origin, routes: route(before)).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            _ = try await TestHTTPClient.request(port: server.port!, "GET", "/api/me", headers: [user])
            #expect(try await TestHTTPClient.request(port: server.port!, "GET", "/api/me", headers: [user]).header("X-Cache") == "HIT")

            try Self.config(origin: origin, routes: route(after)).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 3, needsRestart: []))
            let other = try await TestHTTPClient.request(port: server.port!, "GET", "/api/me", headers: [("X-Account-Id", "5")])
            #expect(other.header("X-Cache") == "MISS")
            #expect(other.text == #"{"for":"account 5"}"#, "not the answer stored for \(user)")
        }
    }

    /// Which answers a route may store is part of its keys too: a `private` answer
    /// stored under `override` must not answer once a reload drops `override`.
    @Test func aReloadThatDropsOverrideLeavesNoPrivateAnswerStored() async throws {
        try await withServer { server, origin, file, _ in
            origin.on("GET", "/api/me", .json(#"{"for":"alice"}"#, headers: [("Cache-Control", "private")]))
            func route(_ extra: String) -> String { #"[{ "name": "me", "match": "GET /api/me", "ttl": "5m"\#(extra) }]"# }
            try Self.config(origin: origin, routes: route(#", "override": true"#)).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            _ = try await xCache(server, "/api/me")
            #expect(try await xCache(server, "/api/me") == "HIT")
            try Self.config(origin: origin, routes: route("")).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 3, needsRestart: []))
            #expect(try await xCache(server, "/api/me") == "MISS")
        }
    }

    /// A lower `ttl` applies to what is stored already: lowered to `"0s"` to stop
    /// caching the route, its entries were served as fresh for the rest of their old
    /// five minutes.
    @Test func aReloadThatLowersTheTTLAppliesToStoredEntries() async throws {
        try await withServer { server, origin, file, _ in
            _ = try await xCache(server, "/api/users/7")
            #expect(try await xCache(server, "/api/users/7") == "HIT")
            try Self.config(origin: origin, routes: #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "0s" }]"#)
                .write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            #expect(try await xCache(server, "/api/users/7") == "MISS")
            #expect(origin.count(path: "/api/users/7") == 2)
        }
    }

    /// The same for a background refresh: from Redis (no L1) each lookup reads a new
    /// copy of the entry, which the refresh took for a fresh one stored by someone else
    /// by its old lifetime, and it never refreshed: the stale answer went out for the
    /// whole window.
    @Test func aRefreshAfterALowerTTLRefreshesEntriesStoredBeforeIt() async throws {
        try await withRedisServer { redis in
            let origin = try await ScriptedOrigin.start()
            origin.on("GET", "/api/users/*", .json("{}"))
            func config(_ ttl: String) -> String {
                Self.config(origin: origin, routes: #"[{ "name": "user", "match": "GET /api/users/{id}", "ttl": "\#(ttl)", "staleWhileRevalidate": "1m" }]"#,
                            extra: #""store": { "memory": "0", "redis": "\#(redis.url)" }"#)
            }
            let file = try writeTempConfig(config("5m"))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let server = try ProxyServer(config: try ConfigLoader.load(file: file, environment: [:]), logger: LogCapture().logger)
            try await server.start()
            try await stopping(server, origin) {
                #expect(try await eventually { server.redisReady })
                _ = try await xCache(server, "/api/users/8")
                #expect(try await xCache(server, "/api/users/8") == "HIT")
                try config("1s").write(toFile: file, atomically: true, encoding: .utf8)
                #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
                try await Task.sleep(for: .milliseconds(1_500))
                #expect(try await xCache(server, "/api/users/8") == "STALE")
                #expect(try await eventually { origin.count(path: "/api/users/8") == 2 }, "the stale entry was refreshed")
            }
        }
    }

    /// Which spellings of a path are one is part of how keys are made: after a reload
    /// drops `caseInsensitive`, `/api/names/bob` must not read the entry
    /// `/api/names/Bob` stored under the one key both spellings shared.
    @Test func aReloadThatChangesWhichSpellingsAreOneLeavesNothingOfTheOld() async throws {
        try await withServer { server, origin, file, _ in
            origin.on("GET", "/api/names/*") { req in .json(#"{"for":"\#(req.path)"}"#) }
            func route(_ paths: String) -> String { #"[{ "name": "names", "match": "GET /api/names/{id}", "ttl": "5m"\#(paths) }]"# }
            try Self.config(origin: origin, routes: route(#", "paths": { "caseInsensitive": true }"#)).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            _ = try await TestHTTPClient.request(port: server.port!, "GET", "/api/names/Bob")
            #expect(try await xCache(server, "/api/names/bob") == "HIT")   // one resource while the route says so

            try Self.config(origin: origin, routes: route("")).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 3, needsRestart: []))
            let bob = try await TestHTTPClient.request(port: server.port!, "GET", "/api/names/bob")
            #expect(bob.header("X-Cache") == "MISS")
            #expect(bob.text == #"{"for":"/api/names/bob"}"#, "not the answer stored for /api/names/Bob")
        }
    }

    /// A reload that gives a route `tags` leaves none of the route's older entries, which
    /// carry none of the new tags: a tag purge would miss them and they would be served
    /// after the mutation that purged their tag was answered.
    @Test func aReloadThatAddsTagsLeavesNoEntryTheTagPurgesCannotReach() async throws {
        try await withServer { server, origin, file, _ in
            origin.on("GET", "/api/lists/a", .json(#"{"items": [{"id": 1}]}"#))
            origin.on("PUT", "/api/users/1", .json("{}"))
            _ = try await xCache(server, "/api/lists/a")
            let lists = #"[{ "name": "lists", "match": "GET /api/lists/{name}", "ttl": "5m""#
            try Self.config(origin: origin, routes: lists + " }]").write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            _ = try await xCache(server, "/api/lists/a")
            #expect(try await xCache(server, "/api/lists/a") == "HIT")

            let purge = #""purge": [{ "on": "PUT /api/users/{id}", "tags": ["user:{id}"] }]"#
            try Self.config(origin: origin, routes: lists + #", "tags": ["user:$.items[*].id"] }]"#, extra: purge)
                .write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 3, needsRestart: []))
            #expect(try await TestHTTPClient.request(port: server.port!, "PUT", "/api/users/1", body: Array("{}".utf8)).status == 200)
            #expect(try await xCache(server, "/api/lists/a") == "MISS", "the list holds user 1")
        }
    }

    /// `maxBodySize` is what a fill may store. An entry stored under a larger one still
    /// answers after a reload lowers it, also to a client that needs its gzip decoded: it
    /// was a 502 for every such client until the entry's ttl ran out.
    @Test func aLowerMaxBodySizeLeavesStoredGzipEntriesAnswering() async throws {
        try await withServer { server, origin, file, _ in
            let body = "{\"items\": [" + (0..<4000).map { #"{"id":\#($0)}"# }.joined(separator: ",") + "]}"
            origin.on("GET", "/api/lists/big", .json(body))
            func route(_ limit: String) -> String { #"[{ "name": "lists", "match": "GET /api/lists/{name}", "ttl": "5m", "maxBodySize": "\#(limit)" }]"# }
            try Self.config(origin: origin, routes: route("1MiB")).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            _ = try await TestHTTPClient.request(port: server.port!, "GET", "/api/lists/big", headers: [("Accept-Encoding", "gzip")])

            try Self.config(origin: origin, routes: route("16KiB")).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 3, needsRestart: []))
            let plain = try await TestHTTPClient.request(port: server.port!, "GET", "/api/lists/big")
            #expect(plain.status == 200 && plain.header("X-Cache") == "HIT")
            let decoded = plain.text == body   // not the 4 000 items printed on a failure
            #expect(decoded, "the stored body, decoded")
            #expect(origin.count(path: "/api/lists/big") == 1)
        }
    }

    @Test func aBadFileIsLoggedAndTheRunningConfigStays() async throws {
        try await withServer { server, origin, file, logs in
            _ = try await xCache(server, "/api/users/1")
            try #"{ "upstream": "\#(origin.baseURL)", "routes": [ { "name": "user", "match": "GET /api/users/{id}", "ttl": "5 minutes" }, { "match": "GET /x" } ] }"#
                .write(toFile: file, atomically: true, encoding: .utf8)
            let outcome = await server.reload(from: file, environment: [:])
            guard case .rejected(let problems) = outcome else {
                Issue.record("applied a bad file: \(outcome)")
                return
            }
            #expect(problems.contains(#"routes[0].ttl: "5 minutes" is not a duration (use 300s, 5m, 1h)"#))
            #expect(problems.contains("routes[1].name: required"))
            #expect(server.configGeneration == 1)
            #expect(logs.all.contains { $0.contains("reload rejected") })
            #expect(logs.all.contains { $0.contains(#"routes[0].ttl: "5 minutes" is not a duration"#) })
            #expect(logs.all.contains { $0.contains("routes[1].name: required") })
            #expect(try await xCache(server, "/api/users/1") == "HIT")
        }
    }

    @Test func keysOnlyARestartAppliesAreReported() async throws {
        try await withServer { server, origin, file, logs in
            try Self.config(origin: origin, routes: Self.users, listen: "127.0.0.1:1",
                            extra: #""store": { "memory": "1MiB" }, "log": { "level": "debug", "access": true }"#)
                .write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: ["listen", "store", "log.level"]))
            #expect(logs.all.contains { $0.contains("only a restart applies") && $0.contains("listen, store, log.level") })
            _ = try await xCache(server, "/api/users/3")   // still served on the old port; the access log is on now
            #expect(logs.all.contains { $0.hasSuffix(" [SidecacheServer] access") && $0.contains("target=/api/users/3") })
            // Reloaded again, the same keys are still not in force: not reported as applied.
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 3, needsRestart: ["listen", "store", "log.level"]))
        }
    }

    /// A rotated admin token is not in force before a restart, and the reload says so: the
    /// old token still opens the admin API, the new one does not.
    @Test func aRotatedAdminTokenWaitsForARestartAndIsReported() async throws {
        let origin = try await ScriptedOrigin.start()
        func admin(_ token: String) -> String { #""admin": { "listen": "127.0.0.1:0", "token": "\#(token)" }"# }
        let file = try writeTempConfig(Self.config(origin: origin, routes: Self.users, extra: admin("old-token-sixteen-chars")))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let logs = LogCapture()
        let server = try ProxyServer(config: try ConfigLoader.load(file: file, environment: [:]), logger: logs.logger,
                                     accessLines: logs.accessLines)
        try await server.start()
        try await stopping(server, origin) {
            try Self.config(origin: origin, routes: Self.users, extra: admin("new-token-sixteen-chars"))
                .write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: ["admin"]))
            #expect(logs.all.contains { $0.contains("only a restart applies") && $0.contains("admin") })
            let old = try await adminCall(port: server.adminPort!, "GET", "/stats", token: "old-token-sixteen-chars")
            let new = try await adminCall(port: server.adminPort!, "GET", "/stats", token: "new-token-sixteen-chars")
            #expect(old.status == 200)
            #expect(new.status == 401)
        }
    }

    /// The request and idle bounds a reload brings apply to the admin listener's new
    /// connections too: it kept the start's (60 s idle) while the proxy's listener took the
    /// new ones, and no reload said so.
    @Test func aReloadsBoundsApplyToNewAdminConnections() async throws {
        let origin = try await ScriptedOrigin.start()
        let file = try writeTempConfig(Self.config(origin: origin, routes: Self.users, extra: adminJSON))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let server = try ProxyServer(config: try ConfigLoader.load(file: file, environment: [:]), logger: LogCapture().logger)
        try await server.start()
        try await stopping(server, origin) {
            try Self.config(origin: origin, routes: Self.users, extra: adminJSON + #", "limits": { "idleTimeout": "1s" }"#)
                .write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            let silent = try await RawConnection.connect(port: server.adminPort!)
            #expect(try await eventually(timeout: .seconds(10)) { silent.isClosed }, "closed after the new 1 s idle bound")
            try? await silent.close()
        }
    }

    /// Limits, the upstream and purge rules are what a reload swaps in: a head between the
    /// old and the new `headerBytes`, a request after the upstream moved, a write the new
    /// rule purges on.
    @Test func aReloadSwapsLimitsUpstreamAndPurgeRules() async throws {
        try await withServer { server, origin, file, _ in
            let second = try await ScriptedOrigin.start()
            second.on("GET", "/api/*") { req in .json(#"{"from":"second","path":"\#(req.path)"}"#) }
            second.on("POST", "/api/refresh/*", .json("{}"))
            let padded = [("X-Pad", String(repeating: "a", count: 3000))]
            let before = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/9", headers: padded)
            #expect(before.status == 200, "within the default 32 KiB")
            let json = Self.config(origin: origin, routes: Self.users, upstream: second.baseURL).replacingOccurrences(
                of: #""routes""#, with: #""limits": { "headerBytes": "2KiB" }, "purge": [{ "on": "POST /api/refresh/{id}", "paths": ["/api/users/{id}"] }], "routes""#)
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await server.reload(from: file, environment: [:]) == .applied(generation: 2, needsRestart: []))
            let after = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/10", headers: padded)
            #expect(after.status == 431, "over the new 2 KiB")
            let moved = try await TestHTTPClient.request(port: server.port!, "GET", "/api/users/11")
            #expect(moved.text.contains("second"), "the new upstream answers")
            #expect(try await xCache(server, "/api/users/11") == "HIT")
            let purge = try await TestHTTPClient.request(port: server.port!, "POST", "/api/refresh/11")
            #expect(purge.status == 200)
            #expect(try await xCache(server, "/api/users/11") == "MISS", "the new rule purged it")
            try? await second.shutdown()
        }
    }

    @Test func sighupToTheBinaryReloadsAndABadFileKeepsTheOldConfig() async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        origin.on("GET", "/api/*", .json("{}"))
        // Port 0 for both listeners, read back from the log: a port chosen beforehand can be
        // taken by another test before the child binds it.
        let admin = #""admin": { "listen": "127.0.0.1:0", "token": "${RELOAD_TEST_TOKEN}" }, "log": { "format": "json" }"#
        // The environment the process started with applies to every reload: the file's
        // upstream refuses connections and only SIDECACHE_UPSTREAM reaches the origin, and a
        // reload without the environment could not fill `${RELOAD_TEST_TOKEN}` (rejected).
        func write(_ routes: String) throws -> String {
            Self.config(origin: origin, routes: routes, listen: "127.0.0.1:0", extra: admin, upstream: "http://127.0.0.1:1")
        }
        let file = try writeTempConfig(try write(Self.users))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let environment = ProcessInfo.processInfo.environment.merging(
            ["SIDECACHE_UPSTREAM": origin.baseURL, "RELOAD_TEST_TOKEN": "a-token-of-sixteen-chars"]) { $1 }
        let process = try ManagedProcess(LifecycleTests.binary, arguments: ["run", "--config", file], environment: environment)
        defer { process.kill() }
        // The proxy listener starts after the admin listener: once it says so, both are bound.
        #expect(await process.waitForOutput(containing: "sidecache listening", timeout: .seconds(60)))
        let port = try #require(LifecycleTests.boundPort(in: process.output), "\(process.output)")
        let adminPort = try #require(LifecycleTests.boundPort(in: process.output, line: "admin listening"), "\(process.output)")
        @Sendable func generation() async throws -> Int? {
            try await adminCall(port: adminPort, "GET", "/readyz", token: nil).json["config"]?.int
        }
        #expect(try await generation() == 1)

        try write(Self.usersAndPosts).write(toFile: file, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        #expect(try await eventually { try await generation() == 2 })
        _ = try await TestHTTPClient.request(port: port, "GET", "/api/posts/1")
        #expect(try await TestHTTPClient.request(port: port, "GET", "/api/posts/1").header("X-Cache") == "HIT")

        try #"{ "listen": 42 }"#.write(toFile: file, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        #expect(await process.waitForOutput(containing: "reload rejected"))
        #expect(process.output.contains("listen: expected a string, found a number"), "\(process.output)")
        #expect(try await generation() == 2)
        #expect(try await TestHTTPClient.request(port: port, "GET", "/api/posts/1").header("X-Cache") == "HIT")

        // log.format json: every line the process wrote is one JSON object.
        let lines = process.output.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("{\"timestamp\":") && $0.hasSuffix("}") }, "\(process.output)")

        process.signal(SIGTERM)
        #expect(await process.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test(arguments: [
        (#""listen": "0.0.0.0:9090""#, "admin.listen: the admin listener on 0.0.0.0:9090 is not on loopback and has no token"),
        (#""listen": "0.0.0.0:9090", "token": "hunter2""#, "admin.token: too weak (shorter than 16 characters)"),
    ])
    func checkRefusesANonLoopbackAdminListenerWithoutAStrongToken(admin: String, refusal: String) async throws {
        let file = try writeTempConfig(#"{ "upstream": "http://127.0.0.1:1", "admin": { \#(admin) } }"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        for command in ["check", "run"] {
            let process = try ManagedProcess(LifecycleTests.binary, arguments: [command, "--config", file])
            #expect(await process.waitForExit() == 1)
            #expect(process.output.contains(refusal), "\(process.output)")
        }
    }
}
