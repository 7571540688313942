/// The framing rules an upstream answer must meet before anything of it is used
/// (RFC 9112 §6.3).
///
/// curl reads the body by its own reading of these headers and the proxy frames the
/// client's answer by its own; when the two could differ (two lengths, a length that
/// is not a number, a length beside chunked coding), the bytes after the body would
/// reach the client as the next answer on its connection. So any doubt is an
/// upstream error: the answer is neither forwarded nor stored, and curl closes the
/// connection it came on. Stricter than RFC 9110 §8.6, which lets a recipient accept
/// `5, 5`: nginx refuses duplicate lengths too.
enum ResponseFraming {
    /// Why `headers` cannot be framed safely, or nil when they can.
    static func problem(in headers: [(name: String, value: String)]) -> String? {
        var length: String?
        var coding: String?
        // By index, and the value read only for the two names: a copy of each pair cost a
        // retain and a release of both its strings, on every forwarded answer.
        for i in headers.indices {
            if headers[i].name.equalsIgnoringASCIICase("content-length") {
                let value = headers[i].value
                guard length == nil else { return "upstream sent more than one Content-Length" }
                guard !value.isEmpty, value.utf8.count <= 18, value.utf8.allSatisfy(\.isDigit) else {
                    return "upstream sent an invalid Content-Length"
                }
                length = value
            } else if headers[i].name.equalsIgnoringASCIICase("transfer-encoding") {
                let value = headers[i].value
                guard coding == nil else { return "upstream sent more than one Transfer-Encoding" }
                guard value.equalsIgnoringASCIICase("chunked") else { return "upstream sent an unsupported Transfer-Encoding" }
                coding = value
            }
        }
        if length != nil && coding != nil { return "upstream sent both Content-Length and Transfer-Encoding" }
        return nil
    }
}
