import Foundation
import SidecacheCore
import SidecacheServer
import SidecacheTestSupport

/// The admin fragment of proxy.json used by the admin tests: loopback, port 0, a token.
let adminToken = "s3cret-token"
let adminJSON = #""admin": { "listen": "127.0.0.1:0", "token": "\#(adminToken)" }"#

extension ProxyHarness {
    /// One admin call on a fresh connection; `token` nil sends no Authorization.
    func admin(_ method: String, _ path: String, token: String? = adminToken, json: String? = nil) async throws -> TestResponse {
        try await adminCall(port: proxy.adminPort!, method, path, token: token, json: json)
    }

    /// The Host clients of this harness send: refreshes name it so they fill the entries clients read.
    var clientHost: String { "127.0.0.1:\(port)" }
}

func adminCall(port: Int, _ method: String, _ path: String, token: String? = adminToken, json: String? = nil) async throws -> TestResponse {
    var headers: [(name: String, value: String)] = []
    if let token { headers.append(("Authorization", "Bearer \(token)")) }
    if json != nil { headers.append(("Content-Type", "application/json")) }
    return try await TestHTTPClient.request(port: port, method, path, headers: headers, body: json.map { Array($0.utf8) })
}

extension TestResponse {
    /// The body as a JSON object (empty when it is not one).
    var json: [String: JSONValue] {
        guard case .object(let members)? = JSONValue.parse(body) else { return [:] }
        return members
    }
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? { value(at: [key]) }

    var isNumber: Bool {
        numeric != nil
    }

    var int: Int? {
        numeric.map { Int($0) }
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// Prometheus text → `name{labels}` → value, for asserting on a scrape.
func prometheusSamples(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        out[String(line[..<space])] = value
    }
    return out
}

/// Writes `json` to a fresh file in the test process's folder (`TestFiles`) and returns its path.
func writeTempConfig(_ json: String) throws -> String {
    try TestFiles.write(json, prefix: "config")
}

/// Runs `body`, then shuts `server` and `origin` down, whether `body` threw or not.
func stopping(_ server: ProxyServer, _ origin: ScriptedOrigin, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        await server.shutdown(grace: .seconds(1))
        try? await origin.shutdown()
        throw error
    }
    await server.shutdown(grace: .seconds(1))
    try? await origin.shutdown()
}

/// A real redis-server for `body`, stopped afterwards whether `body` threw or not.
func withRedisServer(_ body: (RedisServer) async throws -> Void) async throws {
    let redis = try await RedisServer.start()
    do {
        try await body(redis)
    } catch {
        await redis.stop()
        throw error
    }
    await redis.stop()
}
