import Testing
@testable import SidecacheCore

@Suite struct EntryCodecTests {
    static let timing = EntryTiming(birth: Timestamp(milliseconds: 1_000), freshUntil: Timestamp(milliseconds: 61_000),
                                    staleWhileRevalidateUntil: Timestamp(milliseconds: 71_000),
                                    staleIfErrorUntil: Timestamp(milliseconds: 91_000))
    static let generations = EntryCodec.Generations(epoch: Array(0..<16), values: [(1, 7), (0xFFFF_FFFF_FFFF_FFFF, 0)])

    static func encoded(head: [UInt8] = Array("HTTP/1.1 200 OK\r\n".utf8), body: [UInt8] = [0, 13, 10, 255]) -> [UInt8] {
        EntryCodec.header(status: 203, timing: timing, generations: generations, headLength: head.count, bodyLength: body.count) + head + body
    }

    @Test func roundTrip() throws {
        let bytes = Self.encoded()
        let d = try #require(bytes.withUnsafeBytes { EntryCodec.decode($0) })
        #expect(d.status == 203)
        #expect(d.timing == Self.timing)
        #expect(d.generations == Self.generations)
        #expect(Array(bytes[d.head]) == Array("HTTP/1.1 200 OK\r\n".utf8))
        #expect(Array(bytes[d.body]) == [0, 13, 10, 255])
    }

    @Test func emptyBody() throws {
        let bytes = Self.encoded(body: [])
        let d = try #require(bytes.withUnsafeBytes { EntryCodec.decode($0) })
        #expect(d.body.isEmpty)
    }

    /// Every truncation and any extra byte is refused: a partial or foreign value is a miss.
    @Test func truncatedOrPaddedValuesDoNotDecode() {
        let bytes = Self.encoded()
        for n in 0..<bytes.count {
            #expect(Array(bytes[..<n]).withUnsafeBytes { EntryCodec.decode($0) } == nil, "prefix of \(n) bytes")
        }
        #expect((bytes + [0]).withUnsafeBytes { EntryCodec.decode($0) } == nil)
    }

    @Test(arguments: ["not an entry at all", "", "SCE", "{\"json\":true}"])
    func foreignValuesDoNotDecode(text: String) {
        #expect(Array(text.utf8).withUnsafeBytes { EntryCodec.decode($0) } == nil)
    }

    @Test func anotherVersionDoesNotDecode() {
        var bytes = Self.encoded()
        bytes[3] = 2
        #expect(bytes.withUnsafeBytes { EntryCodec.decode($0) } == nil)
    }

    @Test func generationsCompareEpochAndEveryCounter() {
        let g = Self.generations
        #expect(g == EntryCodec.Generations(epoch: Array(0..<16), values: [(1, 7), (0xFFFF_FFFF_FFFF_FFFF, 0)]))
        #expect(g != EntryCodec.Generations(epoch: Array(1..<17), values: g.values))
        #expect(g != EntryCodec.Generations(epoch: g.epoch, values: [(1, 8), (0xFFFF_FFFF_FFFF_FFFF, 0)]))
        #expect(g != EntryCodec.Generations(epoch: g.epoch, values: [(1, 7)]))
    }
}

extension EntryCodec.Decoded: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        a.status == b.status && a.timing == b.timing && a.generations == b.generations && a.head == b.head && a.body == b.body
    }
}
