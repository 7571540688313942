import NIOHTTP1
import SidecacheCore

/// How a streamed answer's body is delimited for the client.
enum BodyFraming: Equatable {
    /// No body: HEAD, 204, 304, 1xx.
    case none
    /// The upstream's Content-Length, passed on.
    case length
    case chunked
    /// An HTTP/1.0 client and no length: the end of the connection ends the body.
    case untilClose

    init(status: Int, headers: HeaderList, isHEAD: Bool, version: HTTPVersion) {
        if isHEAD || status == 204 || status == 304 || status < 200 {
            self = .none
        } else if headers.first("content-length") != nil && !headers.contains("transfer-encoding") {
            self = .length
        } else if version.major == 1 && version.minor >= 1 {
            self = .chunked
        } else {
            self = .untilClose
        }
    }

    /// The connection ends with the body.
    var closes: Bool { self == .untilClose }
}
