/// The methods a request asks the upstream to take it as: a POST that says PUT or
/// DELETE in `X-HTTP-Method-Override` (Express's `method-override`, Symfony, Laravel),
/// `X-HTTP-Method` or `X-Method-Override`, or in a `_method` query parameter, form
/// field (Rails', Laravel's and Symfony's HTML forms, urlencoded or multipart) or
/// top-level JSON member (Laravel reads a JSON body as its input). The upstream may
/// apply that method, so the purge rules naming it fire too: a rule for
/// `DELETE /api/users/{id}` missed the list it names when the delete came as a POST.
///
/// Read as loosely as any of them reads it, since a spelling the proxy missed was a
/// delete it did not purge for: names and values decoded (`%5Fmethod=DEL%45TE`), a
/// name in any spelling PHP reads as `_method` (`.method`, ` _method`:
/// `queryNamesReadAlike`), a multipart name in any case or quoting (Rack, PHP), and a
/// header's first comma element (Express's `method-override` takes `DELETE` from
/// `DELETE, POST`).
public enum MethodOverride {
    static let fields = ["x-http-method-override", "x-http-method", "x-method-override"]
    private static let name = Array("_method".utf8)
    private static let memberWords = [Array("method".utf8), Array("\\u".utf8)]
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
        func add(_ value: MethodName?) {
            guard let value else { return }
            for candidate in candidates where !found.contains(candidate) && value.is(candidate) { found.append(candidate) }
        }
        for field in fields {
            for value in headers.all(field) {
                add(MethodName(value.utf8, decoded: false))
                if let comma = value.utf8.firstIndex(of: UInt8(ascii: ",")) { add(MethodName(value.utf8[..<comma], decoded: false)) }
            }
        }
        eachValue(query: query, body: body, contentType: contentType, add)
        return found
    }

    /// Whether the query or body names a method at all (`_method`, whatever its value):
    /// such a POST is no read, even on a `key.body` route, and must not be answered from
    /// the cache (nor its answer stored). The header fields are the classifier's to ask.
    public static func isAsked(query: Substring?, body: UnsafeRawBufferPointer?, contentType: String?) -> Bool {
        var asked = false
        eachValue(query: query, body: body, contentType: contentType) { _ in asked = true }
        return asked
    }

    /// Every `_method` value in the query and the body (nil: one too long to be a method).
    private static func eachValue(query: Substring?, body: UnsafeRawBufferPointer?, contentType: String?,
                                  _ found: (MethodName?) -> Void) {
        if let query { pairValues(query.utf8) { found(MethodName($0, decoded: true)) } }
        guard let body, let type = contentType?.lowercased() else { return }
        if type.hasPrefix("application/x-www-form-urlencoded") { pairValues(body) { found(MethodName($0, decoded: true)) } }
        if type.hasPrefix("multipart/form-data") { partValues(body) { found(MethodName($0, decoded: false)) } }
        // Laravel's `isJson()`: a type that contains `/json` or `+json`. Parsed only when
        // the body could hold the member (an object whose text says `method`, or escapes):
        // a `key.body` hit would otherwise parse its whole body on the event loop.
        if type.contains("/json") || type.contains("+json"), mayHoldMember(body),
           let value = JSONMembers.pruned(body, to: [["_method"]])?.value(at: ["_method"])?.scalarText {
            found(MethodName(value.utf8, decoded: false))
        }
    }

    /// Whether a JSON body may have a top-level `_method`: an object (after blanks) whose
    /// bytes hold `method` or a `\u` escape (`\u005fmethod`).
    private static func mayHoldMember(_ body: UnsafeRawBufferPointer) -> Bool {
        guard let first = body.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }), first == UInt8(ascii: "{") else {
            return false
        }
        return body.containsAny(of: memberWords)
    }

    /// The values of `_method` pairs in `a=1&_method=PUT` (pairs split on `&` and `;`).
    private static func pairValues<C: BidirectionalCollection<UInt8>>(_ pairs: C, _ found: (C.SubSequence) -> Void) {
        var start = pairs.startIndex
        while true {
            let end = pairs[start...].firstIndex { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: ";") } ?? pairs.endIndex
            let field = pairs[start..<end]
            if let equals = field.firstIndex(of: UInt8(ascii: "=")), queryNamesReadAlike(field[..<equals], name) {
                found(field[field.index(after: equals)...])
            }
            guard end < pairs.endIndex else { return }
            start = pairs.index(after: end)
        }
    }

    /// The values of parts named `_method` in a multipart form (RFC 7578): the part's
    /// body, after its headers, up to the line break before the next boundary. The
    /// `name` parameter as PHP's and Rack's parsers take it: any case, blanks around
    /// `=`, quoted with `"` or `'` or not at all (`filename` is another parameter).
    private static func partValues(_ body: UnsafeRawBufferPointer, _ found: (Slice<UnsafeRawBufferPointer>) -> Void) {
        var i = 0
        while i + 4 < body.count {
            defer { i += 1 }
            guard body[i] | 0x20 == UInt8(ascii: "n"), body[i + 1] | 0x20 == UInt8(ascii: "a"), body[i + 2] | 0x20 == UInt8(ascii: "m"),
                  body[i + 3] | 0x20 == UInt8(ascii: "e"), i == 0 || [UInt8(ascii: ";"), 0x20, 0x09].contains(body[i - 1]) else { continue }
            var j = i + 4
            while j < body.count, body[j] == 0x20 || body[j] == 0x09 { j += 1 }
            guard j < body.count, body[j] == UInt8(ascii: "=") else { continue }
            j += 1
            while j < body.count, body[j] == 0x20 || body[j] == 0x09 { j += 1 }
            guard j < body.count else { return }
            let quote: UInt8? = body[j] == UInt8(ascii: "\"") || body[j] == UInt8(ascii: "'") ? body[j] : nil
            let start = quote == nil ? j : j + 1
            var end = start
            while end < body.count, quote.map({ body[end] != $0 }) ?? (body[end] > 0x20 && body[end] != UInt8(ascii: ";")) { end += 1 }
            guard queryNamesReadAlike(body[start..<end], name),
                  let headersEnd = body[end...].firstRange(of: blankLine) else { continue }
            let valueEnd = body[headersEnd.upperBound...].firstRange(of: crlf)?.lowerBound ?? body.endIndex
            found(body[headersEnd.upperBound..<valueEnd])
            i = valueEnd
        }
    }

    /// One value, decoded and without the blanks around it, held in place (32 bytes:
    /// longer is no method a purge rule could name).
    private struct MethodName {
        private var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        private var count = 0

        init?(_ text: some Collection<UInt8>, decoded: Bool) {
            var source = Decoded(text)
            var plain = text.makeIterator()
            var count = 0, trailingBlanks = 0
            let fits = withUnsafeMutableBytes(of: &bytes) { out in
                while let byte = decoded ? source.next() : plain.next() {
                    let blank = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
                    if blank && count == 0 { continue }
                    guard count < out.count else { return false }
                    out[count] = byte
                    count += 1
                    trailingBlanks = blank ? trailingBlanks + 1 : 0
                }
                return true
            }
            guard fits else { return nil }
            self.count = count - trailingBlanks
        }

        /// Case-blind, as frameworks compare methods.
        func `is`(_ candidate: String) -> Bool {
            guard candidate.utf8.count == count else { return false }
            return withUnsafeBytes(of: bytes) { zip($0[..<count], candidate.utf8).allSatisfy { $0.asciiUppercased == $1 } }
        }
    }
}
