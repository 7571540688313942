import Foundation
@testable import SidecacheAdmin
import SidecacheMetrics
@testable import SidecacheServer
@testable import SidecacheStore
import SidecacheTestSupport
import Testing

extension Tag {
    /// Tests that start a real browser.
    @Tag static var slow: Self
}

/// The status page on the admin listener (`GET /`, token required): per route figures
/// with a latency chart, Redis, recent purges; checked in a real browser.
@Suite("Status page", .serialized)
struct StatusPageTests {
    static let routes = """
    [ { "name": "users", "match": "GET /api/users/{id}", "ttl": "5m" },
      { "name": "teams", "match": "GET /api/teams/{id}", "ttl": "5m" } ]
    """
    static let purge = #"[ { "on": "PUT /api/users/{id}", "paths": ["/api/users/{id}"] } ]"#

    /// Traffic with two history samples around it, so the page has figures and a chart.
    static func traffic(_ h: ProxyHarness) async throws {
        h.origin.on("GET", "/api/users/*") { request in .json(#"{"path":"\#(request.path)"}"#) }
        h.origin.on("PUT", "/api/users/7", .json("{}"))
        let names = ["users", "teams"]
        h.proxy.engine.metrics.history.record(h.proxy.engine.metrics, routes: names)
        for _ in 0..<3 { _ = try await h.get("/api/users/7") }                                  // 1 miss, 2 hits
        _ = try await h.get("/api/users/8", headers: [(name: "Authorization", value: "Bearer x")])  // bypass
        h.proxy.engine.metrics.history.record(h.proxy.engine.metrics, routes: names)
        _ = try await h.get("/api/users/9")
        h.proxy.engine.metrics.history.record(h.proxy.engine.metrics, routes: names)
        _ = try await h.send("PUT", "/api/users/7", body: Array("{}".utf8))
    }

    @Test func theTokenIsRequiredAndBrowsersAreAskedForIt() async throws {
        try await withProxy(routes: Self.routes, purge: Self.purge, extra: adminJSON) { h in
            let anonymous = try await h.admin("GET", "/", token: nil)
            #expect(anonymous.status == 401)
            #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Basic realm=") == true)
            let basic = { (password: String) in
                try await TestHTTPClient.request(port: h.proxy.adminPort!, "GET", "/", headers: [
                    ("Authorization", "Basic " + Data("ops:\(password)".utf8).base64EncodedString()),
                ])
            }
            #expect(try await basic("wrong").status == 401)
            let page = try await basic(adminToken)
            #expect(page.status == 200)
            #expect(page.header("Content-Type") == "text/html; charset=utf-8")
            #expect(try await h.admin("GET", "/").status == 200, "Bearer works too")
            // Basic is for the page only: the API keeps Bearer.
            let stats = try await TestHTTPClient.request(port: h.proxy.adminPort!, "GET", "/stats", headers: [
                ("Authorization", "Basic " + Data("ops:\(adminToken)".utf8).base64EncodedString()),
            ])
            #expect(stats.status == 401)
        }
    }

    /// What clients choose (paths, so purge targets) is escaped: no markup of theirs
    /// reaches the page.
    @Test func textFromRequestsIsEscaped() {
        let purge = RecentPurges.Purge(source: .admin, targets: [#"path /a/<script>alert("x")</script>"#], reason: "admin <b>")
        let html = StatusPage.render(routes: [], redis: nil, purges: [purge], generation: 1, uptimeSeconds: 5, window: .zero)
        #expect(!html.contains("<script>") && !html.contains("<b>"))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
    }

    /// The Redis section says what the tier's status says, a Redis that is down included,
    /// and the page asks to be reloaded every 10 s (README).
    @Test(arguments: [true, false])
    func theRedisSectionShowsTheTiersState(connected: Bool) {
        let status = SharedTierStatus(connected: connected, breaker: connected ? "closed" : "open",
                                      lastError: connected ? nil : "redis unavailable: <not connected>",
                                      l2: connected ? "usable" : "epoch-unknown", usable: connected)
        let html = StatusPage.render(routes: [], redis: .init(status: status, info: nil), purges: [], generation: 1,
                                     uptimeSeconds: 5, window: .zero)
        let shown = connected ? #"<span class="ok">yes</span>"# : #"<span class="bad">no</span>"#
        #expect(html.contains("<tr><th>connected</th><td>\(shown)</td></tr>"))
        #expect(html.contains("<tr><th>breaker</th><td>\(connected ? "closed" : "open")</td></tr>"))
        #expect(html.contains("<tr><th>L2</th><td>\(connected ? "usable" : "epoch-unknown")</td></tr>"))
        #expect(html.contains("last error") == !connected)
        if !connected { #expect(html.contains("redis unavailable: &lt;not connected&gt;")) }
        #expect(html.contains(#"<meta http-equiv="refresh" content="10">"#))
    }

    /// Headless Chromium (Debian's; `make test` installs it) loads the page with the
    /// token as the Basic password, takes a screenshot, and the rendered DOM holds the
    /// routes, their numbers, a drawn chart, Redis and the purge.
    @Test(.tags(.slow)) func aBrowserShowsRoutesNumbersChartAndPurges() async throws {
        let chromium = try #require(ManagedProcess.locate("chromium"), "chromium is installed by make test (Debian package chromium)")
        try await withProxy(routes: Self.routes, purge: Self.purge, extra: adminJSON) { h in
            try await Self.traffic(h)
            let url = "http://ops:\(adminToken)@127.0.0.1:\(h.proxy.adminPort!)/"
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sidecache-status-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(dir.path)/profile",
                         "--window-size=1400,900"]

            let shot = dir.appendingPathComponent("status.png").path
            let screenshot = try ManagedProcess(chromium, arguments: flags + ["--screenshot=\(shot)", url])
            _ = await screenshot.waitForExit(timeout: .seconds(60))
            screenshot.kill()
            let size = (try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
            #expect(size > 10_000, "a screenshot of the page (\(size) bytes); chromium said: \(screenshot.output.suffix(500))")

            let dump = try ManagedProcess(chromium, arguments: flags + ["--dump-dom", url])
            _ = await dump.waitForExit(timeout: .seconds(60))
            dump.kill()
            let dom = dump.output
            #expect(dom.contains(#"<tr data-route="users"><td class="route">users</td><td class="n requests">5</td>"#), "\(dom.prefix(3000))")
            #expect(dom.contains(#"<td class="n hitrate">50.0 %</td>"#), "2 hits of 4 lookups")
            #expect(dom.contains("authorization 1"), "the bypass reason")
            #expect(dom.contains(#"<tr data-route="teams"><td class="route">teams</td><td class="n requests">0</td>"#))
            #expect(dom.contains("<polyline"), "the latency chart is drawn")
            #expect(dom.contains("not configured: memory only"))
            #expect(dom.contains("PUT /api/users/7") && dom.contains("path /api/users/7"), "the purge")
        }
    }
}
