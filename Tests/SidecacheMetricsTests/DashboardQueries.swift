import Foundation
@testable import SidecacheMetrics
import Testing

/// The Grafana dashboard's PromQL checked against `MetricFamily.all`: every metric name
/// it queries is a family (a histogram's also with `_bucket`, `_sum`, `_count`), and
/// every label it matches or groups by is one of that family's, `le` on a bucket, or a
/// label Prometheus adds at scrape time.
enum DashboardQueries {
    static let scrapeLabels: Set<String> = ["job", "instance", "pod", "namespace", "container", "node"]

    /// (where, expression) of every panel target and every `label_values` variable.
    static func load(_ url: URL) throws -> [(String, String)] {
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var out: [(String, String)] = []
        func walk(_ panels: [[String: Any]]) {
            for panel in panels {
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    if let expr = target["expr"] as? String { out.append(("panel \(panel["title"] ?? "?")", expr)) }
                }
                walk(panel["panels"] as? [[String: Any]] ?? [])
            }
        }
        walk(dashboard["panels"] as? [[String: Any]] ?? [])
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        for variable in variables where variable["type"] as? String == "query" {
            let query = (variable["query"] as? [String: Any])?["query"] ?? variable["query"]
            guard let text = query as? String else { continue }
            out.append(("variable \(variable["name"] ?? "?")", labelValuesAsExpression(text)))
        }
        return out
    }

    /// `label_values(selector, label)` as `sum by (label) (selector)`, so the label is
    /// checked like a grouping label; anything else is returned as it is.
    static func labelValuesAsExpression(_ query: String) -> String {
        let text = query.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("label_values("), text.hasSuffix(")"), let comma = text.lastIndex(of: ",") else { return text }
        let selector = text[text.index(text.startIndex, offsetBy: 13)..<comma]
        let label = text[text.index(after: comma)..<text.index(before: text.endIndex)].trimmingCharacters(in: .whitespaces)
        return "sum by (\(label)) (\(selector))"
    }

    /// The family a queried series name belongs to, if any.
    static func family(of name: String, in families: [MetricFamily]) -> MetricFamily? {
        if let f = families.first(where: { $0.name == name }) { return f }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if let f = families.first(where: { $0.name == base && $0.kind == .histogram }) { return f }
        }
        return nil
    }

    /// One line per name or label in `queries` that `families` do not define.
    static func problems(_ queries: [(String, String)], families: [MetricFamily]) -> [String] {
        var problems: [String] = []
        for (place, expr) in queries {
            let refs = PromQLReferences(expr)
            var known = scrapeLabels
            for (name, labels) in refs.metrics.sorted(by: { $0.key < $1.key }) {
                guard let family = family(of: name, in: families) else {
                    problems.append("\(place): \(name.isEmpty ? "a selector without a name" : name) is not a metric family")
                    continue
                }
                let allowed = scrapeLabels.union(family.labelNames).union(name.hasSuffix("_bucket") ? ["le"] : [])
                known.formUnion(allowed)
                for label in labels.subtracting(allowed).sorted() { problems.append("\(place): \(name) has no label \(label)") }
            }
            for label in refs.grouping.subtracting(known).sorted() { problems.append("\(place): no metric here has label \(label)") }
        }
        return problems
    }
}
