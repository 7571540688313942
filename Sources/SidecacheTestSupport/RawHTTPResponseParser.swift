/// Parses HTTP/1.1 responses out of raw bytes, for `RawConnection`. Pure: bytes in,
/// responses and the number of bytes they used out.
enum RawHTTPResponseParser {
    enum Step {
        /// A final response (carrying any interim ones before it) that ended at `end`.
        case response(TestResponse, end: Int)
        /// More bytes are needed.
        case incomplete
    }

    /// Parses the response starting at `start`. `isHead` marks the answer to a HEAD request
    /// (no body whatever the headers say); `peerClosed` lets a body without length end at
    /// the end of the bytes.
    static func parse(_ bytes: [UInt8], from start: Int, isHead: Bool, peerClosed: Bool) throws -> Step {
        var interim: [TestResponse] = []
        var index = start
        while true {
            guard let headEnd = find([13, 10, 13, 10], in: bytes, from: index) else { return .incomplete }
            var response = try parseHead(bytes[index..<headEnd])
            index = headEnd + 4
            if response.status < 200 && response.status != 101 {
                interim.append(response)
                continue
            }
            let framing = try bodyEnd(of: response, in: bytes, from: index, isHead: isHead, peerClosed: peerClosed)
            guard let (body, end) = framing else { return .incomplete }
            response.body = body
            response.interim = interim
            return .response(response, end: end)
        }
    }

    private static func parseHead(_ head: ArraySlice<UInt8>) throws -> TestResponse {
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw TestSupportError(.malformedResponse, "bad status line: \(statusLine.debugDescription)")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else {
                throw TestSupportError(.malformedResponse, "bad header line: \(String(line).debugDescription)")
            }
            headers.append((name: String(line[..<colon]), value: trim(line[line.index(after: colon)...])))
        }
        return TestResponse(status: status, headers: headers)
    }

    /// The body and the index just past it, or nil when not all of it has arrived.
    private static func bodyEnd(
        of response: TestResponse, in bytes: [UInt8], from start: Int, isHead: Bool, peerClosed: Bool
    ) throws -> ([UInt8], Int)? {
        if isHead || response.status == 204 || response.status == 304 {
            return ([], start)
        }
        if let encoding = response.header("Transfer-Encoding"), encoding.lowercased().hasSuffix("chunked") {
            return try dechunk(bytes, from: start)
        }
        if let length = response.header("Content-Length") {
            guard let count = Int(length), count >= 0 else {
                throw TestSupportError(.malformedResponse, "bad Content-Length: \(length.debugDescription)")
            }
            guard bytes.count - start >= count else { return nil }
            return (Array(bytes[start..<(start + count)]), start + count)
        }
        // Delimited by the close of the connection.
        return peerClosed ? (Array(bytes[start...]), bytes.count) : nil
    }

    private static func dechunk(_ bytes: [UInt8], from start: Int) throws -> ([UInt8], Int)? {
        var body: [UInt8] = []
        var index = start
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: index) else { return nil }
            let line = String(decoding: bytes[index..<lineEnd], as: UTF8.self)
            let sizeText = line.split(separator: ";", maxSplits: 1).first.map { trim($0) } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else {
                throw TestSupportError(.malformedResponse, "bad chunk size line: \(line.debugDescription)")
            }
            index = lineEnd + 2
            if size == 0 {
                // Trailers, then an empty line.
                while true {
                    guard let trailerEnd = find([13, 10], in: bytes, from: index) else { return nil }
                    let empty = trailerEnd == index
                    index = trailerEnd + 2
                    if empty { return (body, index) }
                }
            }
            guard bytes.count - index >= size + 2 else { return nil }
            body.append(contentsOf: bytes[index..<(index + size)])
            index += size + 2
        }
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var index = start
        while index <= bytes.count - needle.count {
            if bytes[index] == needle[0] && bytes[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }

    private static func trim(_ text: Substring) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
