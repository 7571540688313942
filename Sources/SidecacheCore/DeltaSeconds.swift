/// RFC 9111 §1.2.2 `delta-seconds = 1*DIGIT`: only digits (no sign, no space inside, no
/// fraction); a value too large to hold is 2^31 ("the greatest integer it can represent,
/// or ... 2147483648"). Nil when it is not delta-seconds at all.
public func deltaSeconds(_ text: some StringProtocol) -> Int64? {
    deltaSeconds(digits: text.utf8)
}

/// The same, read from the bytes in place.
func deltaSeconds(digits: some Collection<UInt8>) -> Int64? {
    guard !digits.isEmpty else { return nil }
    var n: Int64 = 0
    for b in digits {
        guard b >= 0x30 && b <= 0x39 else { return nil }
        if n < deltaSecondsCeiling { n = n * 10 + Int64(b - 0x30) }   // below 2^35: no overflow
    }
    return min(n, deltaSecondsCeiling)
}

/// 2^31, what an overflowing delta-seconds counts as.
public let deltaSecondsCeiling: Int64 = 2_147_483_648
