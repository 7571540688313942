/// `Vary` as the proxy's keys make it true. A route whose key reads request fields
/// besides the URL (`key.headers`, the credential of `identity` or `key.claims`, names
/// learned from the upstream's `Vary`) answers differently by them, as it answers
/// differently by `Accept-Encoding`; a shared cache in front of it (a CDN, an ingress
/// that caches) must hear so, or it gives one user's answer to the next (the variants
/// audit's: Alice's answer on a `cookie:sid` route went to Bob through nginx).
public enum KeyVary {
    /// `lines` with one `Vary` naming every one of `names` (field names, compared
    /// without case) and every member of the `Vary` lines already there, in the place of
    /// the first. One line, since nginx 1.22 caching in front reads the last `Vary` line
    /// alone: `Vary: cookie` then `Vary: Accept-Encoding` gave Alice's answer to Bob
    /// (the review's). `Vary: *` already says it all. Unchanged when there is nothing to add
    /// and no lines to join.
    public static func advertising(_ names: [String], in lines: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var first: Int?
        var lineCount = 0
        var members: [String] = []
        for (i, line) in lines.enumerated() where line.name.equalsIgnoringASCIICase("vary") {
            first = first ?? i
            lineCount += 1
            for member in line.value.split(separator: ",") {
                let member = member.trimmingSpaces()
                if !member.isEmpty && !members.contains(where: { $0.equalsIgnoringASCIICase(member) }) { members.append(member) }
            }
        }
        if members.contains("*") { return lineCount <= 1 ? lines : joined(["*"], replacing: lines, at: first) }
        let missing = names.filter { name in !members.contains { $0.equalsIgnoringASCIICase(name) } }
        guard !missing.isEmpty || lineCount > 1 else { return lines }
        return joined(members + missing, replacing: lines, at: first)
    }

    /// `lines` without their `Vary` lines, and one naming `members` where the first was (else last).
    private static func joined(_ members: [String], replacing lines: [(name: String, value: String)], at first: Int?)
        -> [(name: String, value: String)] {
        var out = lines.filter { !$0.name.equalsIgnoringASCIICase("vary") }
        let line = (name: "Vary", value: members.joined(separator: ", "))
        if let first { out.insert(line, at: first) } else { out.append(line) }
        return out
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
