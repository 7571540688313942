import Foundation

/// The README's "### Metrics" table: one row per family (or several names in one cell),
/// its type, and the label names (the backticked words before the first ":" or "(").
enum MetricsTable {
    struct Row: Equatable {
        var name: String
        var type: String
        var labels: [String]
    }

    static func rows(in readme: String) -> [Row] {
        guard let start = readme.range(of: "\n### Metrics\n") else { return [] }
        let section = readme[start.upperBound...]
        let end = section.range(of: "\n#")?.lowerBound ?? section.endIndex
        var rows: [Row] = []
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3 else { continue }
            let labelPart = cells[2].prefix { $0 != ":" && $0 != "(" }
            for name in backticked(cells[0]) {
                rows.append(Row(name: name, type: cells[1], labels: backticked(labelPart)))
            }
        }
        return rows
    }

    private static func backticked(_ text: some StringProtocol) -> [String] {
        text.split(separator: "`", omittingEmptySubsequences: false).enumerated().compactMap { i, part in
            i % 2 == 1 ? String(part) : nil
        }
    }
}
