/// The head a gzip entry is served with to a client that does not take gzip (DESIGN
/// "HTTP fidelity", compression), rewritten from the stored head byte for byte: the
/// `Content-Encoding` line goes, a strong `ETag` becomes weak (it named the gzip bytes),
/// and `Content-Length` goes (the caller writes the decoded body's). Without an L1,
/// every identity hit from Redis builds it, so it never parses the head into strings.
public enum DecodedHead {
    /// Hands `write` the pieces of the new head in order, each ending where a line
    /// does or inside one; false when the stored head is not one this proxy writes.
    public static func rewrite(_ stored: UnsafeRawBufferPointer, _ write: (UnsafeRawBufferPointer.SubSequence) -> Void) -> Bool {
        var lines = HeadLines(bytes: stored)
        guard let statusLine = lines.next() else { return false }
        write(stored[statusLine.startIndex..<statusLine.endIndex + 2])
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return false }
            let name = line[..<colon]
            if equalsLowercase(name, "content-encoding") || equalsLowercase(name, "content-length") {
                continue
            }
            if equalsLowercase(name, "etag") {
                let value = line[(colon + 1)...].drop(while: HeadLines.isWhitespace)
                if !value.starts(with: "W/".utf8) {
                    write(stored[line.startIndex..<value.startIndex])
                    write(weakPrefix)
                    write(stored[value.startIndex..<line.endIndex + 2])
                    continue
                }
            }
            write(stored[line.startIndex..<line.endIndex + 2])
        }
        return !lines.malformed
    }

    /// `W/`, from the binary's constant bytes.
    private static var weakPrefix: UnsafeRawBufferPointer.SubSequence {
        let weak: StaticString = "W/"
        return UnsafeRawBufferPointer(start: weak.utf8Start, count: weak.utf8CodeUnitCount)[...]
    }
}
