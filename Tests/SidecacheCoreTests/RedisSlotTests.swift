import SidecacheCore
import Testing

/// Redis Cluster's key-to-slot function (cluster spec, "Key distribution model"): CRC16
/// XMODEM of the key or of its hash tag, modulo 16384. Expected values are what
/// redis-server 7.0 answers to `CLUSTER KEYSLOT`.
@Suite struct RedisSlotTests {
    @Test(arguments: [
        ("123456789", 12739),   // CRC16/XMODEM's check value 0x31C3
        ("foo", 12182), ("bar", 5061), ("hello", 866), ("user1000", 3443),
        // Hash tags: the part between the first { and the next }, when not empty.
        ("{user1000}.following", 3443),
        ("foo{}{bar}", 8363),      // an empty first tag: the whole key
        ("foo{{bar}}zap", 4015),   // the tag is "{bar"
        ("{bar", 4015),
        ("foo{bar}{zap}", 5061),   // only the first tag counts
        ("foo{bar", 15278),        // unclosed: the whole key
    ])
    func slotOfAKey(key: String, slot: Int) {
        #expect(RedisSlot.of(key) == slot)
    }
}
