import CCurl
import SidecacheCore

/// The header lines handed to curl (CURLOPT_HTTPHEADER): the caller's headers as
/// given, then blank lines that stop curl adding its own.
///
/// curl's conventions: `Name: value` sends a header and replaces curl's own of that
/// name, `Name:` removes curl's own, `Name;` sends the header with an empty value.
///
/// The list lives in one allocation, its nodes first and then their NUL-terminated
/// text, where `curl_slist_append` would make two per line: curl only reads the list,
/// and it is freed with the transfer that owns it.
final class RequestHeaderLines {
    let list: UnsafeMutablePointer<curl_slist>?
    private let storage: UnsafeMutableRawPointer

    /// `closes`: the connection is not kept after this request
    /// (`ActiveTransfer.leavesConnectionInDoubt`), and the upstream is told so.
    init(_ headers: [(name: String, value: String)], hasBody: Bool, closes: Bool = false) {
        // Room for every line plus curl's three blanks and `Connection: close`, sized
        // before knowing which lines are sent: each line is judged once, as it is written
        // (a refused one leaves its bytes unused).
        var textBytes = "Expect:\0Accept:\0Content-Type:\0Connection: close\0".utf8.count
        for (name, value) in headers { textBytes += name.utf8.count + 2 + value.utf8.count + 1 }
        let capacity = headers.count + 4
        let nodeBytes = capacity * MemoryLayout<curl_slist>.stride
        storage = .allocate(byteCount: nodeBytes + textBytes, alignment: MemoryLayout<curl_slist>.alignment)
        let nodes = storage.bindMemory(to: curl_slist.self, capacity: capacity)
        var writer = Writer(nodes: nodes, text: storage + nodeBytes)
        var hasAccept = false
        var hasContentType = false
        for (name, value) in headers where Self.isSent(name: name, value: value) {
            hasAccept = hasAccept || name.equalsIgnoringASCIICase("accept")
            hasContentType = hasContentType || name.equalsIgnoringASCIICase("content-type")
            writer.line(name, value.isEmpty ? ";" : ": ", value)
        }
        // curl 7.88 adds `Expect: 100-continue` only to an upload (`Curl_http_bodysend`): a
        // request without a body has nothing to blank, and each line more is walked by
        // every header curl checks for (six a request).
        if hasBody { writer.line("Expect:") }
        if !hasAccept { writer.line("Accept:") }
        // With a body curl would otherwise claim application/x-www-form-urlencoded.
        if hasBody && !hasContentType { writer.line("Content-Type:") }
        if closes { writer.line("Connection: close") }
        list = nodes
    }

    deinit {
        storage.deallocate()
    }

    /// The lines as curl reads them.
    var lines: [String] {
        var lines: [String] = []
        var node = list
        while let current = node {
            lines.append(String(cString: current.pointee.data))
            node = current.pointee.next
        }
        return lines
    }

    /// The whole body is in hand: there is nothing to wait for a 100 for, and curl's 1 s
    /// Expect wait would only add latency. CR, LF or NUL would let a value smuggle extra
    /// header lines (or be cut short by curl's C strings); a colon or blank in the name
    /// would change what curl sends.
    private static func isSent(name: String, value: String) -> Bool {
        guard !name.isEmpty, !name.equalsIgnoringASCIICase("expect") else { return false }
        if name.containsUTF8Byte(where: { $0 <= .space || $0 == UInt8(ascii: ":") || $0 == 0x7F }) { return false }
        return !value.containsUTF8Byte(where: { $0 == .cr || $0 == .lf || $0 == 0 })
    }

    /// Fills nodes and text in order, each node pointing at its line and at the next node.
    private struct Writer {
        private var node: UnsafeMutablePointer<curl_slist>
        private var text: UnsafeMutableRawPointer
        private var previous: UnsafeMutablePointer<curl_slist>?

        init(nodes: UnsafeMutablePointer<curl_slist>, text: UnsafeMutableRawPointer) {
            self.node = nodes
            self.text = text
        }

        mutating func line(_ name: String, _ separator: StaticString, _ value: String) {
            let start = text
            append(name)
            append(separator)
            // As the bytes it was read from: a revalidation's `If-None-Match` carries a stored
            // `ETag` that may hold obs-text (`FieldText`), and no fewer bytes than its UTF-8.
            FieldText.withBytes(of: value) { bytes in
                guard let base = bytes.baseAddress else { return }
                text.copyMemory(from: base, byteCount: bytes.count)
                text += bytes.count
            }
            end(start)
        }

        mutating func line(_ fixed: StaticString) {
            let start = text
            append(fixed)
            end(start)
        }

        private mutating func end(_ start: UnsafeMutableRawPointer) {
            text.storeBytes(of: 0, as: UInt8.self)
            text += 1
            node.initialize(to: curl_slist(data: start.assumingMemoryBound(to: CChar.self), next: nil))
            previous?.pointee.next = node
            previous = node
            node += 1
        }

        private mutating func append(_ part: String) {
            var part = part
            part.withUTF8 { append($0) }
        }

        private mutating func append(_ part: StaticString) {
            append(UnsafeBufferPointer(start: part.utf8Start, count: part.utf8CodeUnitCount))
        }

        private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
            guard let base = bytes.baseAddress else { return }
            text.copyMemory(from: base, byteCount: bytes.count)
            text += bytes.count
        }
    }
}
