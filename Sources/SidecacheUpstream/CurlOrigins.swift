import CCurl

/// Each upstream origin (`scheme://host:port`) parsed once into a curl URL handle, so
/// that a transfer names its server with CURLOPT_CURLU and its path with
/// CURLOPT_REQUEST_TARGET instead of a whole URL: given CURLOPT_URL, curl parses the
/// URL again on every transfer and prints it back through its printf. The handle saves
/// 5 300 of a forwarded request's 182 000 instructions (BENCHMARKS.md, issue 13).
///
/// Confined to one curl thread. curl reads a handle for as long as a transfer that named
/// it runs, so handles are freed only with the loop; past `capacity` origins (there is
/// one per configured upstream, and a reload can add one) a transfer falls back to
/// CURLOPT_URL.
final class CurlOrigins {
    static let capacity = 16
    private var handles: [String: OpaquePointer] = [:]

    /// The origin of `url` and its request target, the handle for the origin, or nil
    /// when `url` must go to curl whole: no `scheme://`, a target curl would refuse in a
    /// URL (a space or control byte: sent as a target it would reach the upstream), or no
    /// room for another origin.
    func split(_ url: String) -> (handle: OpaquePointer, target: String)? {
        var url = url
        return url.withUTF8 { bytes -> (OpaquePointer, String)? in
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes.count > colon + 3,
                  bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/") else { return nil }
            let slash = bytes[(colon + 3)...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
            guard slash < bytes.count, !bytes[slash...].contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "#") }) else { return nil }
            let origin = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<slash]), as: UTF8.self)
            guard let handle = handle(for: origin) else { return nil }
            return (handle, String(decoding: UnsafeBufferPointer(rebasing: bytes[slash...]), as: UTF8.self))
        }
    }

    private func handle(for origin: String) -> OpaquePointer? {
        if let handle = handles[origin] { return handle }
        guard handles.count < Self.capacity, let handle = curl_url() else { return nil }
        guard curl_url_set(handle, CURLUPART_URL, origin, 0) == CURLUE_OK else {
            curl_url_cleanup(handle)
            return nil
        }
        handles[origin] = handle
        return handle
    }

    deinit {
        handles.values.forEach { curl_url_cleanup($0) }
    }
}
