import CCurl
import CCurlShim
import NIOCore

extension ActiveTransfer {
    /// Sets every option `request` needs on this transfer's easy handle: all of them on
    /// a new handle; on one parked by an earlier transfer (`reused`, never reset: a
    /// reset and the options set again cost 4 000 instructions per forwarded request),
    /// only those a transfer sets for itself, each of them every time, so nothing of
    /// the earlier request carries over. Returns the first option curl rejected, or
    /// CURLE_OK.
    func configureEasy(origins: CurlOrigins, reused: Bool) -> CURLcode {
        var options = EasyOptions(easy: easy)
        if !reused { options.setConstants(sockets: sockets) }
        if onFreshConnection { options.set(CURLOPT_FRESH_CONNECT, 1) }
        if closesConnection { options.set(CURLOPT_FORBID_REUSE, 1) }
        let context = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
        options.set(CURLOPT_PRIVATE, pointer: context)
        options.set(CURLOPT_WRITEDATA, pointer: context)
        options.set(CURLOPT_HEADERDATA, pointer: context)
        options.set(CURLOPT_PREREQDATA, pointer: context)

        if let (origin, namesAnAddress, target) = origins.split(request.url) {
            options.set(CURLOPT_CURLU, pointer: UnsafeRawPointer(origin))
            options.set(CURLOPT_REQUEST_TARGET, string: request.requestTarget ?? target)
            options.set(CURLOPT_DNS_CACHE_TIMEOUT, namesAnAddress ? -1 : CurlOrigins.nameCacheSeconds)
        } else {
            options.set(CURLOPT_DNS_CACHE_TIMEOUT, CurlOrigins.nameCacheSeconds)
            options.set(CURLOPT_CURLU, pointer: nil)   // it would win over the URL
            options.set(CURLOPT_URL, string: request.url)
            if let target = request.requestTarget {
                options.set(CURLOPT_REQUEST_TARGET, string: target)
            } else {
                options.set(CURLOPT_REQUEST_TARGET, pointer: nil)
            }
        }
        // The head and idle-body limits are the loop's (see ActiveTransfer.deadline);
        // no total timeout, as that would cut long streams and count paused time.
        options.set(CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(request.connectTimeout.nanoseconds / 1_000_000)))

        options.setMethodAndBody(of: self, reused: reused)
        options.setHeaders(of: self)
        return options.result
    }
}

/// Sets options one after another and keeps the first failure, so the setup above
/// reads as a plain list.
private struct EasyOptions {
    let easy: UnsafeMutableRawPointer
    private(set) var result = CURLE_OK

    init(easy: UnsafeMutableRawPointer) {
        self.easy = easy
    }

    mutating func set(_ option: CURLoption, _ value: Int) {
        record(curlshim_setopt_long(easy, option, value))
    }

    mutating func set(_ option: CURLoption, size: Int) {
        record(curlshim_setopt_off_t(easy, option, curl_off_t(size)))
    }

    mutating func set(_ option: CURLoption, pointer: UnsafeRawPointer?) {
        record(curlshim_setopt_ptr(easy, option, pointer))
    }

    /// curl copies string options, so the String need not outlive the call.
    mutating func set(_ option: CURLoption, string: String) {
        record(string.withCString { curlshim_setopt_ptr(easy, option, $0) })
    }

    mutating func set(_ option: CURLoption, callback: curl_write_callback) {
        record(curlshim_setopt_write_cb(easy, option, callback))
    }

    mutating func watch(_ sockets: CurlSockets) {
        let context = UnsafeRawPointer(Unmanaged.passUnretained(sockets).toOpaque())
        record(curlshim_setopt_sockopt_cb(easy, curlSocketOpened))
        set(CURLOPT_SOCKOPTDATA, pointer: context)
        record(curlshim_setopt_closesocket_cb(easy, curlSocketClosing))
        set(CURLOPT_CLOSESOCKETDATA, pointer: context)
        record(curlshim_setopt_prereq_cb(easy, curlConnectionChosen))   // its data is the transfer's
    }

    mutating func record(_ code: CURLcode) {
        if result == CURLE_OK { result = code }
    }

    /// What every transfer of this proxy wants, set once per handle.
    mutating func setConstants(sockets: CurlSockets) {
        watch(sockets)
        set(CURLOPT_WRITEFUNCTION, callback: curlBodyCallback)
        set(CURLOPT_HEADERFUNCTION, callback: curlHeaderCallback)
        set(CURLOPT_PATH_AS_IS, 1)  // a path given in a URL goes out byte for byte
        set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        set(CURLOPT_NOSIGNAL, 1)  // no SIGALRM in a threaded process
        set(CURLOPT_TCP_NODELAY, 1)
        // Bodies pass through as the upstream encoded them (ACCEPT_ENCODING stays
        // unset, so curl asks for no coding either). Redirects are the client's
        // business: FOLLOWLOCATION stays off.
        set(CURLOPT_HTTP_CONTENT_DECODING, 0)
        // The upstream is addressed directly, as nginx would: an http_proxy meant
        // for the host's outbound traffic must not capture it.
        set(CURLOPT_PROXY, string: "")
        // Set, so curl stops reading no_proxy and NO_PROXY from the environment for
        // every transfer (two getenv scans each, callgrind's pass-through profile).
        set(CURLOPT_NOPROXY, string: "")
    }

    /// GET and HEAD map to curl's own modes; POST and anything with a body post the
    /// body from a copy the transfer owns; other methods go out as given. A reused
    /// handle is first brought back to a new one's method state: no body (an earlier
    /// transfer's pointed at a copy freed with that transfer), no custom method, then a
    /// plain GET, last: curl 7.88 turns a handle to POST on any `POSTFIELDS`, nil
    /// included, and a body-less DELETE sent so goes out as a chunked upload read from
    /// stdin. `HTTPGET` also clears NOBODY.
    mutating func setMethodAndBody(of transfer: ActiveTransfer, reused: Bool) {
        let method = transfer.request.method
        let body = transfer.request.body
        if reused {
            set(CURLOPT_POSTFIELDS, pointer: nil)
            set(CURLOPT_POSTFIELDSIZE_LARGE, size: -1)
            set(CURLOPT_CUSTOMREQUEST, pointer: nil)
            set(CURLOPT_HTTPGET, 1)
        }
        switch method {
        case "GET" where body == nil:
            set(CURLOPT_HTTPGET, 1)
        case "HEAD":
            set(CURLOPT_NOBODY, 1)   // its connection is not kept (`closesConnection`)
        case "POST":
            set(CURLOPT_POST, 1)
            // Even without a body: a POST with no POSTFIELDS would read stdin.
            setBody(body, of: transfer)
        default:
            set(CURLOPT_CUSTOMREQUEST, string: method)
            if body != nil { setBody(body, of: transfer) }
        }
    }

    private mutating func setBody(_ body: ByteBuffer?, of transfer: ActiveTransfer) {
        let count = body?.readableBytes ?? 0
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
        body?.withUnsafeReadableBytes { copy.copyMemory(from: $0) }
        transfer.requestBody = copy
        set(CURLOPT_POSTFIELDSIZE_LARGE, size: count)
        set(CURLOPT_POSTFIELDS, pointer: UnsafeRawPointer(copy.baseAddress))
    }

    mutating func setHeaders(of transfer: ActiveTransfer) {
        let request = transfer.request
        // A POST posts even without a body (`setMethodAndBody`), and curl would claim a form.
        let lines = RequestHeaderLines(request.headers, hasBody: request.body != nil || request.method == "POST",
                                       closes: request.hasBody)
        transfer.headerLines = lines
        set(CURLOPT_HTTPHEADER, pointer: UnsafeRawPointer(lines.list))
    }
}
