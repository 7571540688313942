import NIOCore
import SidecacheCore
@testable import SidecacheStore
import Testing

/// The cluster's slot map as redis-server 7.0 describes it (`CLUSTER SHARDS`, `CLUSTER
/// SLOTS`; shapes taken from a real 3-master, 3-replica cluster), its redirects, and the
/// key layout that keeps each atomic operation on one slot.
@Suite struct ClusterMapTests {
    static func bulk(_ s: String) -> RedisValue { .bulk(ByteBuffer(string: s)) }

    static func node(port: Int, role: String, health: String = "online") -> RedisValue {
        .array([bulk("id"), bulk("id\(port)"), bulk("port"), .integer(Int64(port)), bulk("ip"), bulk("127.0.0.1"),
                bulk("endpoint"), bulk("127.0.0.1"), bulk("role"), bulk(role), bulk("replication-offset"), .integer(91),
                bulk("health"), bulk(health)])
    }

    static func shard(_ slots: [Int], _ nodes: [RedisValue]) -> RedisValue {
        .array([bulk("slots"), .array(slots.map { .integer(Int64($0)) }), bulk("nodes"), .array(nodes)])
    }

    @Test func shardsGiveEachSlotItsMasterAndReplicas() throws {
        let reply = RedisValue.array([
            Self.shard([5461, 10922], [Self.node(port: 7001, role: "master"), Self.node(port: 7004, role: "replica")]),
            Self.shard([0, 5460], [Self.node(port: 7000, role: "master"), Self.node(port: 7003, role: "replica", health: "loading")]),
            // After a reshard a shard lists several ranges.
            Self.shard([10923, 12000, 12002, 16383], [Self.node(port: 7002, role: "master")]),
            // A dead master after a failover: its own shard, no slots.
            Self.shard([], [Self.node(port: 7009, role: "master", health: "fail")]),
        ])
        let map = try #require(ClusterMap.fromShards(reply, askedHost: "127.0.0.1", tls: false))
        #expect(map.masters.map(\.port) == [7001, 7000, 7002])
        #expect(map.masters.map(\.replicas) == [1, 0, 0], "a replica still loading is not waited for")
        // Asked for the next map besides the masters (a loading one answers CLUSTER SHARDS too).
        #expect(map.replicas == [.init(host: "127.0.0.1", port: 7004), .init(host: "127.0.0.1", port: 7003)])
        #expect(map.owner(of: 0) == 1 && map.owner(of: 5460) == 1 && map.owner(of: 5461) == 0 && map.owner(of: 16383) == 2)
        #expect(map.owner(of: 12001) == nil)
        #expect(!map.isComplete, "slot 12001 has no master")
    }

    @Test func slotsFromServersBefore7() throws {
        func address(_ port: Int) -> RedisValue { .array([Self.bulk("127.0.0.1"), .integer(Int64(port)), Self.bulk("id\(port)"), .array([])]) }
        let reply = RedisValue.array([
            .array([.integer(0), .integer(5460), address(7000), address(7003)]),
            .array([.integer(5461), .integer(10922), .array([Self.bulk(""), .integer(7001), Self.bulk("id")])]),
            .array([.integer(10923), .integer(16383), address(7002), address(7005)]),
        ])
        let map = try #require(ClusterMap.fromSlots(reply, askedHost: "10.0.0.9"))
        #expect(map.isComplete)
        #expect(map.masters == [.init(host: "127.0.0.1", port: 7000, replicas: 1), .init(host: "10.0.0.9", port: 7001, replicas: 0),
                                .init(host: "127.0.0.1", port: 7002, replicas: 1)], "no announced host: the node asked")
        #expect(map.replicas == [.init(host: "127.0.0.1", port: 7003), .init(host: "127.0.0.1", port: 7005)])
        #expect(ClusterMap.fromSlots(.error("ERR This instance has cluster support disabled"), askedHost: "h") == nil)
    }

    /// Redis lists shards in no fixed order: the same cluster listed another way is the
    /// same map (it was installed again, and logged, every 5 s); a slot moved is not.
    @Test func aMapListedInAnotherOrderIsTheSameMap() throws {
        func address(_ port: Int) -> RedisValue { .array([Self.bulk("127.0.0.1"), .integer(Int64(port))]) }
        let rows: [RedisValue] = [
            .array([.integer(0), .integer(5460), address(7000), address(7003)]),
            .array([.integer(5461), .integer(10922), address(7001)]),
            .array([.integer(10923), .integer(16383), address(7002), address(7005)]),
        ]
        let map = try #require(ClusterMap.fromSlots(.array(rows), askedHost: "h"))
        let reordered = try #require(ClusterMap.fromSlots(.array([rows[2], rows[0], rows[1]]), askedHost: "h"))
        #expect(map.masters != reordered.masters && map == reordered)
        let moved = try #require(ClusterMap.fromSlots(.array([
            .array([.integer(0), .integer(5461), address(7000), address(7003)]),
            .array([.integer(5462), .integer(10922), address(7001)]),
            rows[2],
        ]), askedHost: "h"))
        #expect(map != moved, "slot 5461 moved")
        let failedOver = try #require(ClusterMap.fromSlots(.array([
            .array([.integer(0), .integer(5460), address(7003)]), rows[1], rows[2],
        ]), askedHost: "h"))
        #expect(map != failedOver, "another master for the same slots")
    }

    /// A reply from a hostile (or impersonated) server naming more masters than the
    /// slot table counts: those past it serve nothing; converting their index stopped
    /// the process.
    @Test func moreMastersThanTheTableCountsServeNothing() throws {
        let rows = (0...Int(Int16.max) + 1).map { i in
            RedisValue.array([.integer(0), .integer(0), .array([Self.bulk("h\(i)"), .integer(6379)])])
        }
        let map = try #require(ClusterMap.fromSlots(.array(rows), askedHost: "h"))
        #expect(map.masters.count == Int(Int16.max) + 2)
        #expect(map.owner(of: 0) == Int(Int16.max), "the last master the table can name")
    }

    /// What servers report is summed without trusting it: an overflow stopped the process.
    @Test func summedServerCountsSaturate() {
        #expect(RedisStore.sum([Int.max, 1, nil]) == Int.max)
        #expect(RedisStore.sum([3, nil, 4]) == 7)
        #expect(RedisStore.sum([nil, nil]) == nil)
    }

    @Test func redirects() {
        #expect(ClusterRedirect(.error("MOVED 3999 127.0.0.1:6381"), answeredBy: "h") == .moved(host: "127.0.0.1", port: 6381))
        #expect(ClusterRedirect(.error("ASK 3999 ::1:6381"), answeredBy: "h") == .ask(host: "::1", port: 6381))
        #expect(ClusterRedirect(.error("MOVED 3999 :6381"), answeredBy: "10.0.0.2") == .moved(host: "10.0.0.2", port: 6381))
        #expect(ClusterRedirect(.error("TRYAGAIN Multiple keys request during rehashing of slot"), answeredBy: "h") == .tryAgain)
        #expect(ClusterRedirect(.error("CLUSTERDOWN The cluster is down"), answeredBy: "h") == .down)
        #expect(ClusterRedirect(.error("ERR wrong number of arguments"), answeredBy: "h") == nil)
        #expect(ClusterRedirect(.integer(1), answeredBy: "h") == nil)
    }

    /// One server: the names every earlier version used (old and new instances must see
    /// each other's purges during a rolling upgrade).
    @Test func oneServerKeepsTheUntaggedNames() {
        let keys = RedisKeys(prefix: "sidecache:")
        let key = CacheKey(a: 7, b: 0, c: 0, d: 0)
        #expect(keys.stripes == 1 && keys.stripe(of: key) == 0)
        #expect(keys.entry(key) == "sidecache:e:" + key.description)
        #expect(keys.epoch(0) == "sidecache:epoch" && keys.sequence(0) == "sidecache:seq")
        #expect(keys.generation(0xab, 0) == "sidecache:g:00000000000000ab")
        #expect(keys.softMark(0xab, 0) == "sidecache:s:00000000000000ab")
        #expect(keys.generation(.max, 0) == "sidecache:g:ffffffffffffffff")
        #expect(keys.entryPattern == "sidecache:e:*")
    }

    /// RESP framing: each count and length in decimal, whatever its number of digits.
    @Test(arguments: [0, 9, 10, 99, 100, 12_345])
    func commandsAreFramedWithDecimalLengths(length: Int) {
        var buffer = ByteBuffer()
        buffer.writeRedisCommand(["SET", .text(String(repeating: "k", count: length)), .bytes(ByteBuffer(repeating: 1, count: length))])
        let value = String(repeating: "k", count: length)
        let expected = "*3\r\n$3\r\nSET\r\n$\(length)\r\n\(value)\r\n$\(length)\r\n"
        #expect(buffer.readString(length: expected.utf8.count) == expected)
        #expect(buffer.readBytes(length: length) == [UInt8](repeating: 1, count: length))
        #expect(buffer.readString(length: buffer.readableBytes) == "\r\n")
    }

    /// Commands are appended after what the buffer holds; a value in parts is sent as one
    /// argument; empty arguments are framed too.
    @Test func commandsAppendPartsAndEmptyArguments() {
        var buffer = ByteBuffer(string: "before")
        buffer.writeRedisCommand(["SET", .parts([ByteBuffer(string: "ab"), ByteBuffer(), ByteBuffer(string: "cde")]), .text("")])
        buffer.writeRedisCommand([.bytes(ByteBuffer(string: "PING"))])
        #expect(String(buffer: buffer) == "before*3\r\n$3\r\nSET\r\n$5\r\nabcde\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n")
    }

    /// A counter named in place frames exactly the name `generation` spells.
    @Test func aCounterNamedInPlaceIsTheSameArgument() {
        let keys = RedisKeys(prefix: "app:", stripes: RedisKeys.clusterStripes)
        for (scope, stripe) in [(UInt64(0), 0), (0xab, 5), (.max, RedisKeys.clusterStripes - 1)] {
            var inPlace = ByteBuffer(), spelled = ByteBuffer()
            inPlace.writeRedisCommand(["MGET", keys.generationArgument(scope, stripe)])
            spelled.writeRedisCommand(["MGET", .text(keys.generation(scope, stripe))])
            #expect(inPlace == spelled, "\(String(buffer: inPlace))")
        }
    }

    /// A cluster: an entry, its stripe's epoch, counters and sequence share one slot; the
    /// stripes' slots are spread evenly, so a route's entries and the strict probes of all
    /// hits land on every node, never on one hot slot.
    @Test func clusterStripesShareASlotPerOperationAndSpreadOverAll() {
        let keys = RedisKeys(prefix: "sidecache:", stripes: RedisKeys.clusterStripes)
        let width = RedisSlot.count / RedisKeys.clusterStripes
        #expect(Set(keys.slots).count == RedisKeys.clusterStripes)
        for (stripe, slot) in keys.slots.enumerated() {
            #expect(slot / width == stripe, "stripe \(stripe)'s slot \(slot) is in its own range")
            #expect(RedisSlot.of(keys.epoch(stripe)) == slot && RedisSlot.of(keys.sequence(stripe)) == slot)
            #expect(RedisSlot.of(keys.generation(42, stripe)) == slot)
        }
        var used = Set<Int>()
        for n in 0..<1000 {
            let key = CacheKey(a: UInt64(n) &* 0x9E37_79B9_7F4A_7C15, b: 1, c: 2, d: 3)
            let stripe = keys.stripe(of: key)
            #expect(RedisSlot.of(keys.entry(key)) == keys.slots[stripe])
            used.insert(stripe)
        }
        #expect(used.count == RedisKeys.clusterStripes, "1000 keys use every stripe")
        #expect(keys.entryPattern == "sidecache:{*}e:*")
    }
}
