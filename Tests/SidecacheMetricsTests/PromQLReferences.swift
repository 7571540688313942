import Foundation

/// The names a PromQL expression refers to: metric names with the label names of their
/// matchers, and the labels of `by (…)`, `without (…)`, `on (…)`, `ignoring (…)` and
/// `group_left/right (…)`. Enough PromQL for the dashboard: strings, range and subquery
/// brackets, numbers, durations and `$variables` are skipped; an identifier followed by
/// "(" is a function or an aggregation, never a metric, and so is an aggregation
/// operator followed by its `by (…)` clause (`sum by (route) (…)`).
struct PromQLReferences {
    /// Metric name → label names its matchers use.
    private(set) var metrics: [String: Set<String>] = [:]
    private(set) var grouping: Set<String> = []

    private static let groupingWords: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right"]
    private static let keywords: Set<String> = ["and", "or", "unless", "bool", "offset", "inf", "nan",
                                                "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                                                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"]

    init(_ expr: String) {
        let chars = Array(expr)
        var i = 0
        var lastMetric: String?
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace {
                i += 1
                continue
            } else if c == "\"" || c == "'" || c == "`" {
                i = Self.skipString(chars, from: i)
            } else if c == "[" {
                while i < chars.count && chars[i] != "]" { i += 1 }
                i += 1
            } else if c == "{" {
                let (labels, end) = Self.matcherLabels(chars, from: i + 1)
                metrics[lastMetric ?? "", default: []].formUnion(labels)
                i = end
            } else if c == "$" || c.isNumber || c == "." {
                i += 1
                while i < chars.count && Self.isNameChar(chars[i]) { i += 1 }
            } else if Self.isNameStart(c) {
                let start = i
                while i < chars.count && Self.isNameChar(chars[i]) { i += 1 }
                let word = String(chars[start..<i])
                var next = i
                while next < chars.count && chars[next].isWhitespace { next += 1 }
                let call = next < chars.count && chars[next] == "("
                if call && Self.groupingWords.contains(word) {
                    let (names, end) = Self.nameList(chars, from: next + 1)
                    grouping.formUnion(names)
                    i = end
                } else if !call && !Self.groupingWords.contains(word) && !Self.keywords.contains(word.lowercased()) {
                    metrics[word, default: []].formUnion([])
                    lastMetric = word
                    continue
                }
            } else {
                i += 1
            }
            lastMetric = nil
        }
    }

    private static func isNameStart(_ c: Character) -> Bool { c == "_" || c == ":" || (c.isASCII && c.isLetter) }
    private static func isNameChar(_ c: Character) -> Bool { isNameStart(c) || (c.isASCII && c.isNumber) }

    /// The index after the string that starts at `start` (its quote).
    private static func skipString(_ chars: [Character], from start: Int) -> Int {
        let quote = chars[start]
        var i = start + 1
        while i < chars.count && chars[i] != quote {
            i += chars[i] == "\\" && quote != "`" ? 2 : 1
        }
        return i + 1
    }

    /// The label names of a matcher list `a="x", b=~"y"` up to its "}", and the index after it.
    private static func matcherLabels(_ chars: [Character], from start: Int) -> (Set<String>, Int) {
        var labels: Set<String> = []
        var i = start
        while i < chars.count && chars[i] != "}" {
            if chars[i] == "\"" || chars[i] == "'" || chars[i] == "`" {
                i = skipString(chars, from: i)
            } else if isNameStart(chars[i]) {
                let nameStart = i
                while i < chars.count && isNameChar(chars[i]) { i += 1 }
                labels.insert(String(chars[nameStart..<i]))
            } else {
                i += 1
            }
        }
        return (labels, i + 1)
    }

    /// The names of a list `a, b)` up to its ")", and the index after it.
    private static func nameList(_ chars: [Character], from start: Int) -> (Set<String>, Int) {
        var i = start
        while i < chars.count && chars[i] != ")" { i += 1 }
        let names = String(chars[start..<min(i, chars.count)]).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return (Set(names), i + 1)
    }
}
