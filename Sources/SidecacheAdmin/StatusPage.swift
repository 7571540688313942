import Foundation
import SidecacheMetrics
import SidecacheStore

/// `GET /` on the admin listener (DESIGN "Beyond purge rules", issue 15): one HTML page a
/// person would rather look at than `/stats` — per route requests, hit rate, bypass
/// reasons and p50/p99 over the last minutes with a small inline SVG chart, the Redis
/// tier's state and the last purges. It reloads itself every 10 s; no script, no
/// framework. Everything that comes from requests (purge targets) is HTML-escaped.
enum StatusPage {
    struct Route {
        let name: String
        let figures: ProxyMetrics.RouteFigures
        let window: TrafficHistory.Interval?
        let intervals: [TrafficHistory.Interval]
    }

    struct Redis {
        let status: SharedTierStatus
        let info: SharedTierInfo?
    }

    static func render(routes: [Route], redis: Redis?, purges: [RecentPurges.Purge], generation: Int,
                       uptimeSeconds: Int, window: Duration, now: ContinuousClock.Instant = .now) -> String {
        var html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
        <title>sidecache status</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f7f8fa}
        h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
        .meta{color:#5b6475} table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
        th,td{padding:6px 10px;border-bottom:1px solid #e6e8ec;text-align:left;vertical-align:middle}
        th{font-weight:600;background:#eef0f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
        .ok{color:#17803d} .bad{color:#b42318} svg{display:block}
        </style></head><body>
        <h1>sidecache</h1>
        <p class="meta">config generation <span id="generation">\(generation)</span> · up \(duration(uptimeSeconds)) · \
        windows of the last \(duration(Int(window.components.seconds))) · reloads every 10 s</p>
        <h2>Routes</h2>
        <table id="routes"><thead><tr><th>route</th><th>requests</th><th>hit rate</th><th>hit / stale / miss / bypass</th>
        <th>bypass reasons</th><th>requests, last minutes</th><th>p50 / p99 ms, last minutes</th><th>latency (p50 blue, p99 red)</th></tr></thead><tbody>

        """
        for route in routes {
            let f = route.figures
            let reasons = f.bypassReasons.map { "\(escape($0.reason)) \($0.count)" }.joined(separator: ", ")
            html += """
            <tr data-route="\(escape(route.name))"><td class="route">\(escape(route.name))</td>\
            <td class="n requests">\(f.requests)</td>\
            <td class="n hitrate">\(f.hitRate.map { percent($0) } ?? "–")</td>\
            <td class="n">\(f.hits) / \(f.stale) / \(f.misses) / \(f.bypasses)</td>\
            <td>\(reasons.isEmpty ? "–" : reasons)</td>\
            <td class="n">\(route.window.map { String($0.requests) } ?? "–")</td>\
            <td class="n latency">\(milliseconds(route.window?.p50Ms)) / \(milliseconds(route.window?.p99Ms))</td>\
            <td>\(chart(route.intervals))</td></tr>

            """
        }
        html += "</tbody></table>\n<h2>Redis</h2>\n"
        html += redisSection(redis)
        html += "<h2>Recent purges</h2>\n"
        if purges.isEmpty {
            html += "<p class=\"meta\" id=\"purges\">none since start</p>\n"
        } else {
            html += "<table id=\"purges\"><thead><tr><th>when</th><th>source</th><th>by</th><th>targets</th></tr></thead><tbody>\n"
            for purge in purges {
                let age = max(0, Int((now - purge.at).components.seconds))
                html += "<tr><td>\(duration(age)) ago</td><td>\(purge.source.rawValue)</td><td>\(escape(purge.reason))</td>"
                    + "<td>\(escape(purge.targets.joined(separator: ", ")))</td></tr>\n"
            }
            html += "</tbody></table>\n"
        }
        return html + "</body></html>\n"
    }

    private static func redisSection(_ redis: Redis?) -> String {
        guard let redis else { return "<p class=\"meta\" id=\"redis\">not configured: memory only</p>\n" }
        let s = redis.status
        var rows = [("connected", s.connected ? "<span class=\"ok\">yes</span>" : "<span class=\"bad\">no</span>"),
                    ("breaker", escape(s.breaker)), ("L2", escape(s.l2))]
        if let entries = redis.info?.entries { rows.append(("entries", String(entries))) }
        if let memory = redis.info?.usedMemory { rows.append(("memory", "\(memory / (1 << 20)) MiB")) }
        if let policy = s.memoryPolicy { rows.append(("maxmemory-policy", escape(policy))) }
        if let cluster = s.cluster { rows.append(("cluster", "\(cluster.masters) masters, \(cluster.redirects) redirects")) }
        if let error = s.lastError { rows.append(("last error", "<span class=\"bad\">\(escape(error))</span>")) }
        return "<table id=\"redis\"><tbody>" + rows.map { "<tr><th>\($0.0)</th><td>\($0.1)</td></tr>" }.joined() + "</tbody></table>\n"
    }

    /// p50 (blue) and p99 (red) per interval, scaled to the largest p99.
    static func chart(_ intervals: [TrafficHistory.Interval]) -> String {
        let width = 240.0, height = 48.0
        let top = intervals.compactMap(\.p99Ms).max() ?? 0
        guard intervals.count > 1, top > 0 else { return "<span class=\"meta\">collecting…</span>" }
        func line(_ values: [Double?], _ color: String) -> String {
            let step = width / Double(intervals.count - 1)
            let points = values.enumerated().compactMap { i, v in
                v.map { String(format: "%.1f,%.1f", Double(i) * step, height - $0 / top * (height - 2) - 1) }
            }
            return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>"
        }
        return "<svg class=\"chart\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
            + "role=\"img\" aria-label=\"p50 and p99 latency, max \(milliseconds(top)) ms\">"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#fbfcfd\"/>"
            + line(intervals.map(\.p50Ms), "#2563eb") + line(intervals.map(\.p99Ms), "#dc2626")
            + "<text x=\"2\" y=\"10\" font-size=\"9\" fill=\"#5b6475\">\(milliseconds(top)) ms</text></svg>"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    private static func percent(_ share: Double) -> String { String(format: "%.1f %%", share * 100) }

    private static func milliseconds(_ ms: Double?) -> String {
        guard let ms else { return "–" }
        return ms < 10 ? String(format: "%.2f", ms) : String(format: "%.0f", ms)
    }

    private static func duration(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        return "\(seconds / 3600) h"
    }
}
