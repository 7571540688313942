/// Redis Cluster's hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag —
/// the part between the first `{` and the next `}` when that part is not empty — modulo
/// 16384. Keys with the same tag share a slot, which is how every key one atomic
/// operation touches is kept on one node.
public enum RedisSlot {
    public static let count = 16384

    public static func of(_ key: some StringProtocol) -> Int {
        let bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(bytes[(open + 1)..<close]) % UInt16(count))
        }
        return Int(crc16(bytes[...]) % UInt16(count))
    }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
