/// The methods a request asks the upstream to take it as: a POST that says PUT or
/// DELETE in `X-HTTP-Method-Override` (Express's `method-override`, Symfony, Laravel),
/// `X-HTTP-Method` or `X-Method-Override`, or in a `_method` query parameter or form
/// field (Rails', Laravel's and Symfony's HTML forms). The upstream may apply that
/// method, so the purge rules naming it fire too: a rule for `DELETE /api/users/{id}`
/// missed the list it names when the delete came as a POST.
public enum MethodOverride {
    static let fields = ["x-http-method-override", "x-http-method", "x-method-override"]
    static let parameter = "_method"

    /// Each named method once, in upper case (frameworks read them case-blind).
    /// `form`: the body, when it is `application/x-www-form-urlencoded`.
    public static func methods(headers: some HeaderFields, query: Substring?, form: UnsafeRawBufferPointer?) -> [String] {
        var found: [String] = []
        func add(_ text: some Collection<UInt8>) {
            let method = String(decoding: text, as: UTF8.self).uppercased()
            let token = !method.isEmpty && method.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
            if token, !found.contains(method) { found.append(method) }
        }
        for field in fields { headers.all(field).forEach { add($0.trimmingSpaces().utf8) } }
        if let query { parameterValues(query.utf8, add) }
        if let form { parameterValues(form, add) }
        return found
    }

    /// The values of `_method` pairs in `a=1&_method=PUT` (pairs split on `&` and `;`).
    private static func parameterValues<C: Collection<UInt8>>(_ pairs: C, _ found: (C.SubSequence) -> Void) {
        let name = Array(parameter.utf8)
        for pair in pairs.split(whereSeparator: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: ";") }) {
            guard let eq = pair.firstIndex(of: UInt8(ascii: "=")), pair[..<eq].elementsEqual(name) else { continue }
            found(pair[pair.index(after: eq)...])
        }
    }
}
