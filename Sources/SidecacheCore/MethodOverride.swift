/// The methods a request asks the upstream to take it as: a POST that says PUT or
/// DELETE in `X-HTTP-Method-Override` (Express's `method-override`, Symfony, Laravel),
/// `X-HTTP-Method` or `X-Method-Override`, or in a `_method` query parameter or form
/// field (Rails', Laravel's and Symfony's HTML forms, urlencoded or multipart). The
/// upstream may apply that method, so the purge rules naming it fire too: a rule for
/// `DELETE /api/users/{id}` missed the list it names when the delete came as a POST.
public enum MethodOverride {
    static let fields = ["x-http-method-override", "x-http-method", "x-method-override"]
    private static let pair = Array("_method=".utf8)
    private static let part = Array("name=\"_method\"".utf8)
    private static let crlf = Array("\r\n".utf8)
    private static let blankLine = Array("\r\n\r\n".utf8)

    /// The `candidates` (upper-case method names: those the purge rules name) that the
    /// request names, each once (frameworks read them case-blind, blanks around). The
    /// body is read as a form when `contentType` says it is one, by a scan that allocates
    /// nothing and compares each value with the candidates in place: a body may be
    /// `maxRequestBody` of `_method=…` pairs (1.2 million distinct ones, each made a
    /// String and searched for among those found, held a loop for minutes).
    public static func methods(headers: some HeaderFields, query: Substring?, body: UnsafeRawBufferPointer?,
                               contentType: String?, among candidates: [String]) -> [String] {
        var found: [String] = []
        func add<C: BidirectionalCollection<UInt8>>(_ text: C) {
            var value = text[...]
            while let first = value.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { value = value.dropFirst() }
            while let last = value.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { value = value.dropLast() }
            for candidate in candidates where candidate.utf8.count == value.count && !found.contains(candidate) {
                if zip(value, candidate.utf8).allSatisfy({ $0.asciiUppercased == $1 }) { found.append(candidate) }
            }
        }
        for field in fields { headers.all(field).forEach { add($0.utf8) } }
        if let query { pairValues(query.utf8, add) }
        if let body, let type = contentType?.lowercased() {
            if type.hasPrefix("application/x-www-form-urlencoded") { pairValues(body, add) }
            if type.hasPrefix("multipart/form-data") { partValues(body, add) }
        }
        return found
    }

    /// The values of `_method` pairs in `a=1&_method=PUT` (pairs split on `&` and `;`).
    private static func pairValues<C: BidirectionalCollection<UInt8>>(_ pairs: C, _ found: (C.SubSequence) -> Void) {
        var start = pairs.startIndex
        while true {
            let end = pairs[start...].firstIndex { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: ";") } ?? pairs.endIndex
            let field = pairs[start..<end]
            if field.starts(with: pair) { found(field.dropFirst(pair.count)) }
            guard end < pairs.endIndex else { return }
            start = pairs.index(after: end)
        }
    }

    /// The values of parts named `_method` in a multipart form (RFC 7578): the part's
    /// body, after its headers, up to the line break before the next boundary.
    private static func partValues(_ body: UnsafeRawBufferPointer, _ found: (Slice<UnsafeRawBufferPointer>) -> Void) {
        var rest = body[...]
        while let name = rest.firstRange(of: part) {
            rest = rest[name.upperBound...]
            guard let headersEnd = rest.firstRange(of: blankLine) else { return }
            rest = rest[headersEnd.upperBound...]
            let valueEnd = rest.firstRange(of: crlf)?.lowerBound ?? rest.endIndex
            found(rest[..<valueEnd])
            rest = rest[valueEnd...]
        }
    }
}
