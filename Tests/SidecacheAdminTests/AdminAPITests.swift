import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import SidecacheConfig
import SidecacheCore
@testable import SidecacheAdmin
import SidecacheMetrics
import SidecacheStore
import Synchronization
import Testing

/// The admin API alone, against a stand-in for the proxy: what it asks of `AdminBackend`
/// and what it answers, without a listener, an engine or a store.
@Suite("Admin API against a stand-in backend")
struct AdminAPITests {
    static let config = try! ConfigLoader.parse(Data(#"""
    { "upstream": "http://127.0.0.1:1", "routes": [{ "name": "user", "match": "GET /api/users/{id}", "ttl": "5m" }],
      "admin": { "listen": "127.0.0.1:0", "token": "s3cret-token" } }
    """#.utf8), environment: [:])

    static func call(_ backend: StandInBackend, _ method: HTTPMethod, _ uri: String, token: String? = "s3cret-token",
                     body: String = "") async -> AdminResponse {
        let api = AdminAPI(backend: backend, admin: config.admin!, logger: Logger(label: "test"))
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return await api.handle(AdminRequest(head: head, body: Array(body.utf8), remote: "127.0.0.1:1"), on: EmbeddedEventLoop())
    }

    @Test func readyzSaysWhetherTheProxyServes() async {
        let backend = StandInBackend(serving: false)
        let response = await Self.call(backend, .GET, "/readyz", token: nil)
        #expect(response.status == .serviceUnavailable)
        #expect(String(buffer: response.body) == #"{"ready":false,"redis":{"configured":false},"config":7}"# + "\n")
    }

    @Test func purgePassesTheScopeOnAndCountsWhatItCovers() async {
        let backend = StandInBackend(serving: true)
        let response = await Self.call(backend, .POST, "/purge", body: #"{"route": "user"}"#)
        #expect(response.status == .ok)
        #expect(String(buffer: response.body) == #"{"dryRun":false,"scopes":["route user"],"l1Entries":3}"# + "\n")
        #expect(backend.purged == [[.route("user")]])
    }

    @Test(arguments: [#"{"route": "nope"}"#, #"{"path": "/a", "tag": "t"}"#, "[]"])
    func badPurgeBodiesPurgeNothing(body: String) async {
        let backend = StandInBackend(serving: true)
        #expect(await Self.call(backend, .POST, "/purge", body: body).status == .badRequest)
        #expect(backend.purged.isEmpty)
    }

    @Test func guardedCallsNeedTheToken() async {
        let backend = StandInBackend(serving: true)
        #expect(await Self.call(backend, .POST, "/purge", token: nil, body: #"{"all": true}"#).status == .unauthorized)
        #expect(await Self.call(backend, .POST, "/purge", token: "wrong", body: #"{"all": true}"#).status == .unauthorized)
        #expect(backend.purged.isEmpty)
    }
}

/// A backend that records purges, covers 3 entries, has no Redis and is at generation 7.
final class StandInBackend: AdminBackend {
    let isServing: Bool
    let metrics = ProxyMetrics(routeCapacity: 16)
    private let purges = Mutex<[[PurgeScope]]>([])
    private let modes = Mutex<[PurgeMode]>([])

    init(serving: Bool) { isServing = serving }

    var purged: [[PurgeScope]] { purges.withLock { $0 } }
    var purgeModes: [PurgeMode] { modes.withLock { $0 } }
    var configInForce: (config: Config, generation: Int) { (AdminAPITests.config, 7) }
    var memoryUsage: (entries: Int, bytes: Int, capacityBytes: Int) { (3, 300, 1000) }
    var sharedStatus: SharedTierStatus? { nil }
    func sharedInfo(on loop: any EventLoop) async -> SharedTierInfo? { nil }
    func sharedRateLimitHit(key: String, window: Duration, by: Int, on loop: any EventLoop) async -> (count: Int, remainingMs: Int)? { nil }
    func coveredEntries(_ scopes: [PurgeScope]) -> Int { 3 }
    func purge(_ scopes: [PurgeScope], mode: PurgeMode, caller: String, on loop: any EventLoop) async {
        purges.withLock { $0.append(scopes) }
        modes.withLock { $0.append(mode) }
    }

    func refresh(path: String, host: String, headers: [HeaderLine], on loop: any EventLoop) async throws -> RefreshedAnswer {
        RefreshedAnswer(status: 200, headers: [], body: ByteBuffer())
    }
}
