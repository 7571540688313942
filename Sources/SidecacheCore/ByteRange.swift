/// RFC 9110 §14: a GET's `Range` against a complete stored representation.
public enum RangeAnswer: Equatable, Sendable {
    /// 206 with these bytes of the representation (inclusive bounds).
    case partial(ClosedRange<Int>)
    /// 416 with `Content-Range: bytes */length`.
    case unsatisfiable
    /// The whole representation with 200: no `Range`, another unit, several ranges
    /// (answered whole, as §14.2 allows), or a field that does not parse (ignored, §14.2).
    case whole

    /// `values`: the request's `Range` field lines; `length`: the representation's.
    public static func evaluate(_ values: [String], length: Int) -> RangeAnswer {
        guard values.count == 1, let spec = Self.singleRange(values[0]) else { return .whole }
        switch spec {
        case .from(let first, let last):
            guard first < length else { return .unsatisfiable }
            guard let last else { return .partial(first...(length - 1)) }
            return .partial(first...min(last, length - 1))
        case .suffix(let count):
            guard count > 0, length > 0 else { return .unsatisfiable }
            return .partial(max(0, length - count)...(length - 1))
        }
    }

    private enum Spec {
        case from(Int, Int?)
        case suffix(Int)
    }

    /// `bytes=first-last`, `bytes=first-` or `bytes=-suffix` (unit case-insensitive, OWS
    /// around the range); nil for anything else, several ranges included.
    private static func singleRange(_ value: String) -> Spec? {
        let trimmed = value.trimmingSpaces()
        guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals].lowercased() == "bytes" else { return nil }
        let ranges = trimmed[trimmed.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        guard ranges.count == 1, let dash = ranges[0].firstIndex(of: "-") else { return nil }
        let first = ranges[0][..<dash], last = ranges[0][ranges[0].index(after: dash)...]
        if first.isEmpty { return digits(last).map { .suffix($0) } }
        guard let from = digits(first) else { return nil }
        if last.isEmpty { return .from(from, nil) }
        guard let to = digits(last), to >= from else { return nil }
        return .from(from, to)
    }

    /// 1*DIGIT, saturating at Int.max (a huge last-pos is just "to the end").
    private static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var n = 0
        for d in text.utf8 {
            let (times, o1) = n.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int(d - 0x30))
            if o1 || o2 { return Int.max }
            n = sum
        }
        return n
    }
}

extension Validators {
    /// RFC 9110 §13.1.5: whether `If-Range` lets the `Range` apply — an entity tag by
    /// strong comparison (a weak tag never matches), or a date equal to a `Last-Modified`
    /// that is strong: the entry's `Date` at least a second after it (§8.8.2.2). A file
    /// changed twice within its `Last-Modified` second would otherwise have the client
    /// splice bytes of two versions. `datesHold`: false where the bytes under one
    /// `Last-Modified` may differ from fill to fill (the proxy's own gzip).
    public static func ifRangeMatches(_ value: String, stored: some HeaderFields, datesHold: Bool = true) -> Bool {
        let condition = value.trimmingSpaces()
        if condition.hasPrefix("\"") || condition.hasPrefix("W/") {
            return stored.first("etag").map { strongEqual(condition, $0) } ?? false
        }
        guard datesHold, let date = HTTPDate.parse(condition), let modified = stored.first("last-modified").flatMap(HTTPDate.parse),
              let dated = stored.first("date").flatMap(HTTPDate.parse) else { return false }
        return date == modified && dated - modified >= .seconds(1)
    }
}
