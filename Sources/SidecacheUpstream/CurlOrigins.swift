import CCurl
import Glibc

/// Each upstream origin (`scheme://host:port`) parsed once into a curl URL handle, so
/// that a transfer names its server with CURLOPT_CURLU and its path with
/// CURLOPT_REQUEST_TARGET instead of a whole URL: given CURLOPT_URL, curl parses the
/// URL again on every transfer and prints it back through its printf. The handle saves
/// 5 300 of a forwarded request's 182 000 instructions (BENCHMARKS.md, issue 13).
///
/// An origin whose host is an IP address has nothing to look up again: its transfers
/// keep curl's name cache entry forever (CURLOPT_DNS_CACHE_TIMEOUT -1), which also skips
/// the cache's prune at the end of every transfer, 900 of a forwarded request's
/// instructions. Names are looked up again after curl's 60 s, as before.
///
/// Confined to one curl thread. curl reads a handle for as long as a transfer that named
/// it runs, so handles are freed only with the loop; past `capacity` origins (there is
/// one per configured upstream, and a reload can add one) a transfer falls back to
/// CURLOPT_URL.
final class CurlOrigins {
    static let capacity = 16
    /// curl's default lifetime of a looked-up name, for origins named by one.
    static let nameCacheSeconds = 60
    private var handles: [String: (handle: OpaquePointer, namesAnAddress: Bool)] = [:]

    /// The origin of `url` and its request target, the handle for the origin, or nil
    /// when `url` must go to curl whole: no `scheme://`, a target curl would refuse in a
    /// URL (a space or control byte: sent as a target it would reach the upstream), or no
    /// room for another origin.
    func split(_ url: String) -> (handle: OpaquePointer, namesAnAddress: Bool, target: String)? {
        var url = url
        return url.withUTF8 { bytes -> (OpaquePointer, Bool, String)? in
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes.count > colon + 3,
                  bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/") else { return nil }
            let slash = bytes[(colon + 3)...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
            guard slash < bytes.count, !bytes[slash...].contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "#") }) else { return nil }
            let origin = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<slash]), as: UTF8.self)
            guard let (handle, namesAnAddress) = handle(for: origin) else { return nil }
            return (handle, namesAnAddress, String(decoding: UnsafeBufferPointer(rebasing: bytes[slash...]), as: UTF8.self))
        }
    }

    private func handle(for origin: String) -> (handle: OpaquePointer, namesAnAddress: Bool)? {
        if let known = handles[origin] { return known }
        guard handles.count < Self.capacity, let handle = curl_url() else { return nil }
        guard curl_url_set(handle, CURLUPART_URL, origin, 0) == CURLUE_OK else {
            curl_url_cleanup(handle)
            return nil
        }
        let known = (handle, Self.hostIsAnAddress(handle))
        handles[origin] = known
        return known
    }

    /// Whether the host curl parsed is an IPv4 or IPv6 address (`127.0.0.1`; curl gives
    /// `[::1]` in its brackets).
    private static func hostIsAnAddress(_ handle: OpaquePointer) -> Bool {
        var part: UnsafeMutablePointer<CChar>?
        guard curl_url_get(handle, CURLUPART_HOST, &part, 0) == CURLUE_OK, let part else { return false }
        defer { curl_free(part) }
        var host = String(cString: part)
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var address = in6_addr()
        return inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1
    }

    deinit {
        handles.values.forEach { curl_url_cleanup($0.handle) }
    }
}
