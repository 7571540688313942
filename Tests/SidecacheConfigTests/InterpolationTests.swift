import SidecacheCore
import Testing
@testable import SidecacheConfig

@Suite struct InterpolationTests {
    @Test(arguments: [
        ("plain", [:], "plain"),
        ("$A and $ {A}", ["A": "x"], "$A and $ {A}"),
        ("${A}", ["A": "x"], "x"),
        ("pre-${A}-post", ["A": "x"], "pre-x-post"),
        ("${A}${B}", ["A": "1", "B": "2"], "12"),
        ("${A}", ["A": ""], ""),
        ("${A:-d}", [:], "d"),
        ("${A:-d}", ["A": ""], "d"),
        ("${A:-d}", ["A": "v"], "v"),
        ("${A:-}", [:], ""),
        ("${UP:-http://127.0.0.1:3000}", [:], "http://127.0.0.1:3000"),
        ("${A_1}", ["A_1": "ok"], "ok"),
        ("${A}", ["A": "${B}"], "${B}"),               // values are not expanded again
    ] as [(String, [String: String], String)])
    func expands(text: String, env: [String: String], expected: String) {
        #expect(interpolate(text, env) == .success(expected))
    }

    @Test(arguments: [
        ("${A}", InterpolationError.unset("A")),
        ("x ${A} y", .unset("A")),
        ("${A", .unclosed),
        ("${}", .badName("")),
        ("${A B}", .badName("A B")),
        ("${A-b}", .badName("A-b")),
        // Not nested: the default would have been the text `${B` (an admin token that
        // anyone reading the file could send).
        ("${A:-${B}}", .nested("A:-${B")),
        ("${:-x}", .badName(":-x")),
    ] as [(String, InterpolationError)])
    func errors(text: String, expected: InterpolationError) {
        #expect(interpolate(text, [:]) == .failure(expected))
    }

    @Test func anyStringInTheFile() throws {
        let c = try parse(#"""
        {"upstream": "${UP}", "listen": "${HOST:-0.0.0.0}:${PORT:-8080}",
         "routes": [{"name": "a", "match": "GET /a", "ttl": "${TTL:-5m}"}]}
        """#, env: ["UP": "http://api:3000", "PORT": "9000", "TTL": "30s"])
        #expect(c.upstream.description == "http://api:3000")
        #expect(c.listen == ListenAddress(host: "0.0.0.0", port: 9000))
        #expect(c.routes.route(named: "a")?.ttl == .fixed(.seconds(30)))
    }

    @Test func unsetVariableReportedAtItsPath() {
        let found = problems(config(#""store": {"redis": "${REDIS}"}, "admin": {"token": "${TOKEN}"}"#))
        #expect(problem(at: "store.redis", in: found) == "environment variable REDIS is not set (use ${REDIS:-default} to allow that)")
        #expect(problem(at: "admin.token", in: found)?.contains("TOKEN") == true)
    }

    @Test func environmentOverrides() throws {
        let file = #"{"listen": "127.0.0.1:8080", "upstream": "http://a:1", "store": {"redis": "redis://file:6379"}}"#
        let env = ["SIDECACHE_LISTEN": "0.0.0.0:9999", "SIDECACHE_UPSTREAM": "https://b.example", "REDIS_URL": "redis://env:6379/2"]
        let c = try parse(file, env: env)
        #expect(c.listen == ListenAddress(host: "0.0.0.0", port: 9999))
        #expect(c.upstream == UpstreamURL(scheme: "https", host: "b.example", port: 443, basePath: ""))
        #expect(c.store.redis == RedisEndpoint(host: "env", database: 2))
        // Without them, the file's values.
        let plain = try parse(file)
        #expect(plain.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(plain.store.redis == RedisEndpoint(host: "file"))
        // An empty SIDECACHE_LISTEN does not override.
        #expect(try parse(file, env: ["SIDECACHE_LISTEN": ""]).listen.port == 8080)
        // SIDECACHE_UPSTREAM can stand in for a missing "upstream".
        #expect(try parse("{}", env: ["SIDECACHE_UPSTREAM": "http://c:80"]).upstream.host == "c")
    }

    @Test func badOverridesNamedByVariable() {
        let found = problems(minimal, env: ["SIDECACHE_LISTEN": "everywhere", "SIDECACHE_UPSTREAM": "gopher://x", "REDIS_URL": "http://r:6380"])
        #expect(problem(at: "SIDECACHE_LISTEN", in: found) != nil)
        #expect(problem(at: "SIDECACHE_UPSTREAM", in: found) != nil)
        #expect(problem(at: "REDIS_URL", in: found)?.contains("rediss://") == true)
    }
}
