import CCurl

// libcurl's C callbacks. They cannot capture anything, so the transfer arrives as
// the unretained userdata pointer set with CURLOPT_WRITEDATA / CURLOPT_HEADERDATA.

/// CURLOPT_WRITEFUNCTION: body bytes, chunked framing already removed.
func curlBodyCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    let transfer = Unmanaged<ActiveTransfer>.fromOpaque(context!).takeUnretainedValue()
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
}

/// CURLOPT_HEADERFUNCTION: one whole header line per call, status lines and the
/// blank line that ends each head included.
func curlHeaderCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    let transfer = Unmanaged<ActiveTransfer>.fromOpaque(context!).takeUnretainedValue()
    // Any count other than the one given makes curl fail the transfer.
    return transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}
