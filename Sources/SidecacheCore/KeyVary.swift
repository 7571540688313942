/// `Vary` as the proxy's keys make it true. A route whose key reads request fields
/// besides the URL (`key.headers`, the credential of `identity` or `key.claims`, names
/// learned from the upstream's `Vary`) answers differently by them, as it answers
/// differently by `Accept-Encoding`; a shared cache in front of it (a CDN, an ingress
/// that caches) must hear so, or it gives one user's answer to the next (the variants
/// audit's: Alice's answer on a `cookie:sid` route went to Bob through nginx).
public enum KeyVary {
    /// `lines` with a `Vary` naming every one of `names` (lowercased field names): those
    /// no `Vary` line names yet go in one more line. `Vary: *` already says it all.
    public static func advertising(_ names: [String], in lines: [(name: String, value: String)]) -> [(name: String, value: String)] {
        guard !names.isEmpty else { return lines }
        let named = named(in: lines)
        if named.contains("*") { return lines }
        let missing = names.filter { !named.contains($0) }
        return missing.isEmpty ? lines : lines + [(name: "Vary", value: missing.joined(separator: ", "))]
    }

    /// `lines` with `names` taken out of every `Vary` (a `Vary` left empty goes): what
    /// the upstream said, when the proxy's own names are to be told from it.
    public static func without(_ names: [String], in lines: [(name: String, value: String)]) -> [(name: String, value: String)] {
        guard !names.isEmpty else { return lines }
        return lines.compactMap { line in
            guard line.name.equalsIgnoringASCIICase("vary") else { return line }
            let kept = line.value.split(separator: ",").map { $0.trimmingSpaces() }.filter { !names.contains($0.lowercased()) }
            return kept.isEmpty ? nil : (name: line.name, value: kept.joined(separator: ", "))
        }
    }

    private static func named(in lines: [(name: String, value: String)]) -> Set<String> {
        var named: Set<String> = []
        for line in lines where line.name.equalsIgnoringASCIICase("vary") {
            for name in line.value.split(separator: ",") { named.insert(name.trimmingSpaces().lowercased()) }
        }
        return named
    }
}
