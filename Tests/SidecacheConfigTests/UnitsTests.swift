import SidecacheCore
import Testing
@testable import SidecacheConfig

@Suite struct UnitsTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("5ms", .milliseconds(5)), ("0s", .zero), ("30s", .seconds(30)),
        ("5m", .seconds(300)), ("12h", .seconds(43_200)), ("1d", .seconds(86_400)), ("300s", .seconds(300)),
        ("5", .seconds(5)), ("3600", .seconds(3600)), ("0", .zero),
    ] as [(String, Duration)])
    func durations(text: String, expected: Duration) throws {
        #expect(parseDuration(text) == expected)
        // ...and through the loader.
        let c = try parse(config(#""defaults": {"staleIfError": "\#(text)"}"#))
        #expect(c.defaults.staleIfError == expected)
    }

    @Test(arguments: ["", "s", "5 minutes", "1.5s", "-1s", " 5s", "5S", "5sec", "5min", "1w", "ms", "99999999999999999999s", "5m5s"])
    func badDurations(text: String) {
        #expect(parseDuration(text) == nil)
        let found = problems(config(#""defaults": {"ttl": "\#(text)"}"#))
        #expect(problem(at: "defaults.ttl", in: found) == "\"\(text)\" is not a duration (use 300s, 5m, 1h)")
    }

    /// Limits that would overflow a timer, a deadline or a 32-bit buffer size somewhere
    /// at run time (stopping the process at the first admin probe, or the first large
    /// body) are refused at load, naming the field.
    @Test func limitsPastWhatTheRuntimeHoldsAreRefused() throws {
        #expect(try parse(config(#""defaults": {"ttl": "3650d"}"#)).defaultTTL == .fixed(.seconds(3650 * 86_400)))
        #expect(problem(at: "defaults.ttl", in: problems(config(#""defaults": {"ttl": "3651d"}"#)))
                == #""3651d" is longer than the 3650d a duration may be"#)
        let found = problems(config(#"""
            "limits": {"idleTimeout": 10000000000, "headerTimeout": "10000000000s"},
            "defaults": {"maxBodySize": "4GiB", "maxRequestBody": "5GiB"},
            "admin": {"listen": "127.0.0.1:9000", "refreshLimit": "1/9223372036854775s"},
            "threads": 100000
            """#))
        for path in ["limits.idleTimeout", "limits.headerTimeout", "defaults.maxBodySize", "defaults.maxRequestBody",
                     "admin.refreshLimit", "threads"] {
            #expect(problem(at: path, in: found) != nil, "\(path): \(found)")
        }
        #expect(problem(at: "defaults.maxBodySize", in: found) == #""4GiB" is more than the 2GiB this limit may be"#)
        #expect(try parse(config(#""defaults": {"maxBodySize": "2GiB"}, "threads": 1024"#)).defaults.maxBodySize == 2 << 30)
    }

    @Test(arguments: [
        ("0", 0), ("0B", 0), ("100B", 100), ("512KiB", 512 << 10), ("8MiB", 8 << 20), ("1GiB", 1 << 30), ("0KiB", 0),
    ] as [(String, Int)])
    func sizes(text: String, expected: Int) throws {
        #expect(parseSize(text) == expected)
        #expect(try parse(config(#""defaults": {"maxBodySize": "\#(text)"}"#)).defaults.maxBodySize == expected)
    }

    @Test(arguments: ["", "1", "00", "1KB", "1MB", "1kib", "1.5MiB", "1 MiB", "-1KiB", "MiB", "lots", "99999999999999GiB"])
    func badSizes(text: String) {
        #expect(parseSize(text) == nil)
        let found = problems(config(#""store": {"memory": "\#(text)"}"#))
        #expect(problem(at: "store.memory", in: found) == "\"\(text)\" is not a size (use 0, 512KiB, 8MiB, 1GiB)")
    }

    @Test func nonStringUnitsReported() {
        let found = problems(config(#""defaults": {"ttl": 60, "staleIfError": 1.5, "maxBodySize": 1024}"#))
        #expect(found.count == 2, "a whole number of seconds is a duration: \(found)")
        #expect(problem(at: "defaults.staleIfError", in: found)?.contains("whole number of seconds") == true)
        #expect(problem(at: "defaults.maxBodySize", in: found) == "expected a string, found a number")
    }

    /// A bare number is seconds, as a string or a JSON number; `check` shows the unit.
    @Test func bareNumbersAreSeconds() throws {
        let c = try parse(config(#""routes": [{ "name": "a", "match": "GET /a", "ttl": "3600" }, { "name": "b", "match": "GET /b", "ttl": 90 }]"#))
        #expect(c.routes.routes.map(\.ttl) == [.fixed(.seconds(3600)), .fixed(.seconds(90))])
        #expect(c.routes.routes.map(\.ttl.description) == ["1h", "90s"])
    }

    @Test(arguments: [
        ("1/1h", RateLimit(count: 1, period: .seconds(3600)) as RateLimit?), ("10/30s", RateLimit(count: 10, period: .seconds(30))),
        ("0/1h", nil), ("1/0s", nil), ("1h", nil), ("x/1h", nil), ("1/1h/2", nil), ("1/hour", nil),
    ] as [(String, RateLimit?)])
    func rateLimits(text: String, expected: RateLimit?) {
        #expect(RateLimit.parse(text) == expected)
    }

    @Test(arguments: [
        ("0.0.0.0:8080", ListenAddress(host: "0.0.0.0", port: 8080) as ListenAddress?),
        ("[::1]:9090", ListenAddress(host: "::1", port: 9090)),
        ("localhost:0", ListenAddress(host: "localhost", port: 0)),
        ("8080", nil), (":8080", nil), ("host:", nil), ("host:70000", nil), ("::1:80", nil), ("[::1]", nil), ("[::1]80", nil),
    ] as [(String, ListenAddress?)])
    func listenAddresses(text: String, expected: ListenAddress?) {
        #expect(ListenAddress.parse(text) == expected)
    }

    @Test(arguments: [
        ("http://127.0.0.1:3000", "http", "127.0.0.1", 3000, ""),
        ("http://api.internal", "http", "api.internal", 80, ""),
        ("https://api.internal/", "https", "api.internal", 443, ""),
        ("https://api.internal:8443/v1/", "https", "api.internal", 8443, "/v1"),
        ("http://[::1]:3000/base", "http", "::1", 3000, "/base"),
        ("http://[::1]", "http", "::1", 80, ""),
    ] as [(String, String, String, Int, String)])
    func upstreamURLs(text: String, scheme: String, host: String, port: Int, base: String) throws {
        let url = try parse(#"{"upstream": "\#(text)"}"#).upstream
        #expect(url == UpstreamURL(scheme: scheme, host: host, port: port, basePath: base))
        #expect(url.url(for: "/a?b=1") == "\(scheme)://\(url.authority)\(base)/a?b=1")
    }

    /// Regression: "the upstream URL cannot have a query or fragment", also when no path precedes it.
    @Test(arguments: ["http://api?x=1", "http://api:3000?x=1", "http://api#frag"])
    func upstreamQueryWithoutPath(text: String) {
        #expect(problem(at: "upstream", in: problems(#"{"upstream": "\#(text)"}"#)) == "the upstream URL cannot have a query or fragment")
    }

    @Test(arguments: ["ftp://x", "127.0.0.1:3000", "http://", "http://:80", "HTTP://x", "http://a:b:c"])
    func badUpstreams(text: String) {
        #expect(problem(at: "upstream", in: problems(#"{"upstream": "\#(text)"}"#)) != nil)
    }
}

@Suite struct RedisEndpointTests {
    @Test(arguments: [
        ("redis://cache", RedisEndpoint(host: "cache")),
        ("redis://cache:6380/3", RedisEndpoint(host: "cache", port: 6380, database: 3)),
        ("redis://:s3cret@cache:6379", RedisEndpoint(host: "cache", password: "s3cret")),
        ("redis://app:p%40ss@10.0.0.1:7000/1", RedisEndpoint(host: "10.0.0.1", port: 7000, user: "app", password: "p@ss", database: 1)),
        ("redis://[::1]:6379", RedisEndpoint(host: "::1")),
        ("rediss://default:pw@eu1.upstash.io:6379", RedisEndpoint(host: "eu1.upstash.io", user: "default", password: "pw", tls: true)),
        ("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/mymaster/2",
         RedisEndpoint(host: "10.0.0.1", port: 26379, password: "pw", database: 2, sentinel: .init(
            nodes: [.init(host: "10.0.0.1", port: 26379), .init(host: "10.0.0.2", port: 26380)], master: "mymaster"))),
        ("rediss+sentinel://s1:26379/cache", RedisEndpoint(host: "s1", port: 26379, tls: true, sentinel: .init(
            nodes: [.init(host: "s1", port: 26379)], master: "cache"))),
        ("redis+cluster://app:pw@10.0.0.1:7000,10.0.0.2:7001", RedisEndpoint(host: "10.0.0.1", port: 7000, user: "app", password: "pw",
            cluster: [.init(host: "10.0.0.1", port: 7000), .init(host: "10.0.0.2", port: 7001)])),
        ("rediss+cluster://node1:6379/0", RedisEndpoint(host: "node1", port: 6379, tls: true, cluster: [.init(host: "node1", port: 6379)])),
    ])
    func parses(text: String, expected: RedisEndpoint) throws {
        let c = try parse(config(#""store": {"redis": "\#(text)"}"#))
        #expect(c.store.redis == expected)
    }

    @Test func descriptionHidesThePassword() {
        #expect(RedisEndpoint(host: "h", user: "u", password: "secret").description == "redis://u:***@h:6379/0")
        #expect(RedisEndpoint(host: "a", port: 1, password: "secret", tls: true, cluster: [.init(host: "a", port: 1), .init(host: "b", port: 2)])
            .description == "rediss+cluster://:***@a:1,b:2")
    }

    @Test(arguments: ["redis://cache:port", "redis://cache/x", "redis://", "redis://a:b:c",
                      "redis+sentinel://s1:26379", "redis+sentinel://s1:26379/", "redis+sentinel:///m", "redis+sentinel://s1/m",
                      "redis+sentinel://s1:26379/m/x", "redis+cluster://", "redis+cluster://a", "redis+cluster://a:1,b",
                      "redis+cluster://a:7000/1"])
    func rejects(text: String) {
        let found = problems(config(#""store": {"redis": "\#(text)"}"#))
        #expect(found.map(\.path) == ["store.redis"])
    }
}
