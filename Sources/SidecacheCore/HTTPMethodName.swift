/// The method as it goes on the wire. NIO reads `M-SEARCH` (SSDP, UPnP) into a case whose
/// raw value is `MSEARCH`, a method nobody defined: forwarded under that name, upstreams
/// reject or misroute it (RFC 9110 §9.1: the method token is case-sensitive and exact).
public func wireMethodName(_ parsed: String) -> String {
    parsed == "MSEARCH" ? "M-SEARCH" : parsed
}
