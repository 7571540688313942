/// The header lines handed to curl (CURLOPT_HTTPHEADER): the caller's headers as
/// given, then blank lines that stop curl adding its own.
///
/// curl's conventions: `Name: value` sends a header and replaces curl's own of that
/// name, `Name:` removes curl's own, `Name;` sends the header with an empty value.
enum RequestHeaderLines {
    static func lines(for headers: [(name: String, value: String)], hasBody: Bool) -> [String] {
        var lines: [String] = []
        lines.reserveCapacity(headers.count + 3)
        var hasAccept = false
        var hasContentType = false
        for (name, value) in headers where isSendable(name: name, value: value) {
            // The whole body is in hand: there is nothing to wait for a 100 for, and
            // curl's 1 s Expect wait would only add latency.
            if name.equalsIgnoringASCIICase("expect") { continue }
            hasAccept = hasAccept || name.equalsIgnoringASCIICase("accept")
            hasContentType = hasContentType || name.equalsIgnoringASCIICase("content-type")
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        lines.append("Expect:")
        if !hasAccept { lines.append("Accept:") }
        // With a body curl would otherwise claim application/x-www-form-urlencoded.
        if hasBody && !hasContentType { lines.append("Content-Type:") }
        return lines
    }

    /// CR, LF or NUL would let a value smuggle extra header lines (or be cut short by
    /// curl's C strings); a colon or blank in the name would change what curl sends.
    private static func isSendable(name: String, value: String) -> Bool {
        guard !name.isEmpty else { return false }
        if name.utf8.contains(where: { $0 <= .space || $0 == UInt8(ascii: ":") || $0 == 0x7F }) { return false }
        return !value.utf8.contains(where: { $0 == .cr || $0 == .lf || $0 == 0 })
    }
}

extension String {
    /// ASCII case-insensitive equality; header names are ASCII tokens.
    func equalsIgnoringASCIICase(_ other: String) -> Bool {
        utf8.count == other.utf8.count
            && zip(utf8, other.utf8).allSatisfy { a, b in a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= 0x61 && (a | 0x20) <= 0x7A) }
    }
}
