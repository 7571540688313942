/// RFC 9111 §1.2.2 `delta-seconds = 1*DIGIT`: only digits (no sign, no space inside, no
/// fraction); a value too large to hold is 2^31 ("the greatest integer it can represent,
/// or ... 2147483648"). Nil when it is not delta-seconds at all.
public func deltaSeconds(_ text: some StringProtocol) -> Int64? {
    guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return min(Int64(text) ?? deltaSecondsCeiling, deltaSecondsCeiling)
}

/// 2^31, what an overflowing delta-seconds counts as.
public let deltaSecondsCeiling: Int64 = 2_147_483_648
