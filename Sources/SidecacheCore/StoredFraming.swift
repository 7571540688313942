import Glibc

/// Checks that a stored head frames its stored body exactly as this proxy would.
///
/// A hit writes the stored head to the client as it is, so the `Content-Length` in it
/// is the framing the client reads by. Heads this proxy writes always carry one
/// `Content-Length` equal to the body (none for 204 and 304, whose bodies are empty)
/// and no `Transfer-Encoding`. An entry read from a shared store may have been written
/// by someone else (Redis is reachable by other clients); one whose framing disagrees
/// with its body would desynchronise the client's connection (a short length smuggles
/// the rest of the body in as the next answer, a long one swallows it), so it is
/// treated as corrupt. Checked where entries come out of Redis, never on an L1 hit.
public enum StoredFraming {
    /// Why a head does not frame its body; nil when it does. Not labels: for tests and logs.
    public static func problem(head: UnsafeRawBufferPointer, status: Int, bodyLength: Int) -> String? {
        guard (200...599).contains(status) else { return "status \(status) is not a final answer" }
        var lines = HeadLines(bytes: head)
        guard let statusLine = lines.next() else { return "no status line" }
        guard Self.code(statusLine) == status else { return "status line does not say HTTP/1.1 \(status)" }
        let bodiless = status == 204 || status == 304
        var contentLengths = 0
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  !HeadLines.isWhitespace(line[line.startIndex]) else { return "not a header line" }
            let name = line[..<colon]
            if equalsLowercase(name, "transfer-encoding") { return "Transfer-Encoding in a stored head" }
            guard equalsLowercase(name, "content-length") else { continue }
            contentLengths += 1
            guard contentLengths == 1 else { return "more than one Content-Length" }
            guard !bodiless else { return "Content-Length on a \(status)" }
            guard decimal(line[(colon + 1)...]) == bodyLength else { return "Content-Length is not the body's length" }
        }
        if lines.malformed { return "a line not ended by CRLF, or a bare CR, LF or NUL" }
        if bodiless { return bodyLength == 0 ? nil : "a \(status) with a body" }
        return contentLengths == 1 ? nil : "no Content-Length"
    }

    /// The code of an "HTTP/1.1 NNN reason" status line, or nil. The prefix is compared
    /// with `memcmp`: a `String.UTF8View` walked byte by byte cost 1 000 instructions of
    /// every Redis hit.
    private static func code(_ line: UnsafeRawBufferPointer.SubSequence) -> Int? {
        let prefix: StaticString = "HTTP/1.1 "
        let length = prefix.utf8CodeUnitCount
        guard line.count >= length + 3,
              memcmp(line.base.baseAddress! + line.startIndex, prefix.utf8Start, length) == 0 else { return nil }
        let rest = line.dropFirst(length + 3)
        guard rest.isEmpty || rest.first == UInt8(ascii: " ") else { return nil }
        return decimal(line.dropFirst(length).prefix(3))
    }

    /// The value as a decimal number, optional whitespace around it; nil if it is not one.
    private static func decimal(_ value: UnsafeRawBufferPointer.SubSequence) -> Int? {
        let start = value.drop(while: HeadLines.isWhitespace)
        let digits = start.prefix(start.count - start.reversed().prefix(while: HeadLines.isWhitespace).count)
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var n = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            n = n * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return n
    }
}
