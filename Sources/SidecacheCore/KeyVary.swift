/// `Vary` as the proxy's keys make it true. A route whose key reads request fields
/// besides the URL (`key.headers`, the credential of `identity` or `key.claims`, names
/// learned from the upstream's `Vary`) answers differently by them, as it answers
/// differently by `Accept-Encoding`; a shared cache in front of it (a CDN, an ingress
/// that caches) must hear so, or it gives one user's answer to the next (the variants
/// audit's: Alice's answer on a `cookie:sid` route went to Bob through nginx).
public enum KeyVary {
    /// Gives `lines` one `Vary` naming every one of `names` (field names, compared
    /// without case) and every member of the `Vary` lines already there, in the place of
    /// the first. One line, since nginx 1.22 caching in front reads the last `Vary` line
    /// alone: `Vary: cookie` then `Vary: Accept-Encoding` gave Alice's answer to Bob
    /// (the review's). `Vary: *` already says it all. Unchanged when there is nothing to add
    /// and no lines to join.
    public static func advertise(_ names: [String], in lines: inout [(name: String, value: String)]) {
        // Every fill comes here: the usual cases (no `Vary`, or one naming them all)
        // cost a look at each line and at most an append in place, as the single
        // `Accept-Encoding` check before did.
        var first: Int?
        var lineCount = 0
        for i in lines.indices where lines[i].name.equalsIgnoringASCIICase("vary") {
            first = first ?? i
            lineCount += 1
        }
        guard let first else {
            if !names.isEmpty { lines.append((name: "Vary", value: names.count == 1 ? names[0] : names.joined(separator: ", "))) }
            return
        }
        if lineCount == 1 {
            if names.isEmpty { return }
            let members = lines[first].value.split(separator: ",")
            if members.contains(where: { $0.trimmingSpaces() == "*" })
                || names.allSatisfy({ name in members.contains { $0.trimmingSpaces().equalsIgnoringASCIICase(name) } }) {
                return
            }
        }
        var members: [String] = []
        for line in lines where line.name.equalsIgnoringASCIICase("vary") {
            for member in line.value.split(separator: ",") {
                let member = member.trimmingSpaces()
                if !member.isEmpty && !members.contains(where: { $0.equalsIgnoringASCIICase(member) }) { members.append(member) }
            }
        }
        if !members.contains("*") { members += names.filter { name in !members.contains { $0.equalsIgnoringASCIICase(name) } } }
        let joined = members.contains("*") ? "*" : members.joined(separator: ", ")
        lines.removeAll { $0.name.equalsIgnoringASCIICase("vary") }
        lines.insert((name: "Vary", value: joined), at: first)
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
}
