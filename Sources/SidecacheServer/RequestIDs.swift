/// Request IDs for requests that arrive without an `X-Request-Id`, drawn per thread:
/// SplitMix64 over a counter seeded once from the system's randomness. A draw from the
/// system generator is a `getrandom(2)` call, one per forwarded request before
/// (BENCHMARKS.md, issue 13). The IDs are unique per thread (the mix is a bijection of
/// the counter) and across threads and instances as far as 64 random seed bits go. They
/// are not secrets: a client may send its own.
final class RequestIDs {
    private static let perThread = ThreadSlot<RequestIDs>()
    private var state: UInt64

    private init() {
        state = UInt64.random(in: .min ... .max)
    }

    /// This thread's generator.
    static var current: RequestIDs { perThread.value(orMake: RequestIDs.init) }

    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
