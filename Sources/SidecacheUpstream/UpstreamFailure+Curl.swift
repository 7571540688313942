import CCurl

extension UpstreamFailure {
    /// The failure for a transfer that curl ended with `code` (not CURLE_OK).
    init(curlCode code: CURLcode, request: UpstreamRequest, headArrived: Bool) {
        let authority = URLAuthority(url: request.url)
        let server = authority?.description ?? request.url
        switch code {
        case CURLE_COULDNT_CONNECT:
            self.init(kind: .connect, detail: "connect to \(server) refused")
        case CURLE_COULDNT_RESOLVE_HOST:
            self.init(kind: .connect, detail: "cannot resolve \(authority?.host ?? request.url)")
        case CURLE_OPERATION_TIMEDOUT:
            // The only curl timeout set is the connect timeout; the others are the loop's.
            self.init(kind: .timeout, detail: headArrived
                ? Self.text(code)
                : "connect to \(server) timed out after \(request.connectTimeout.shortDescription)")
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_WEIRD_SERVER_REPLY:
            self.init(kind: .protocolError, detail: Self.text(code))
        case CURLE_WRITE_ERROR where !headArrived:
            // The body callback refuses bytes that come before a usable head.
            self.init(kind: .protocolError, detail: "response head could not be parsed")
        default:
            self.init(kind: .other, detail: Self.text(code))
        }
    }

    /// The transfer completed without error but no final head was seen.
    static let noHead = UpstreamFailure(kind: .protocolError, detail: "response ended without a head")

    private static func text(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }
}
