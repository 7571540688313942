/// Expands `${NAME}` and `${NAME:-default}` from `environment`. An unset `${NAME}`
/// without a default is an error rather than a silent empty string: a missing
/// variable in production config is almost always a mistake.
func interpolate(_ text: String, _ environment: [String: String]) -> Result<String, InterpolationError> {
    guard text.contains("${") else { return .success(text) }
    var out = ""
    var rest = Substring(text)
    while let start = rest.firstRange(of: "${") {
        out += rest[..<start.lowerBound]
        let body = rest[start.upperBound...]
        guard let close = body.firstIndex(of: "}") else { return .failure(.unclosed) }
        let expression = body[..<close]
        let name: Substring
        let fallback: Substring?
        if let sep = expression.firstRange(of: ":-") {
            name = expression[..<sep.lowerBound]
            fallback = expression[sep.upperBound...]
        } else {
            name = expression
            fallback = nil
        }
        guard !name.isEmpty, name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
            return .failure(.badName(String(expression)))
        }
        // `${A:-${B}}` would end at B's `}`, and the default be the text `${B`.
        if let fallback, fallback.contains("${") { return .failure(.nested(String(expression))) }
        if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
            out += value
        } else if let fallback {
            out += fallback
        } else {
            return .failure(.unset(String(name)))
        }
        rest = body[body.index(after: close)...]
    }
    out += rest
    return .success(out)
}

enum InterpolationError: Error, Equatable, CustomStringConvertible {
    case unclosed
    case badName(String)
    case unset(String)
    case nested(String)

    var description: String {
        switch self {
        case .unclosed: "\"${\" without a closing \"}\""
        case .badName(let n): "\"${\(n)}\" is not a variable reference (use ${NAME} or ${NAME:-default})"
        case .unset(let n): "environment variable \(n) is not set (use ${\(n):-default} to allow that)"
        case .nested(let e): "\"${\(e)…\": a default may not hold another ${…} (no nesting: set the value in one variable)"
        }
    }
}
