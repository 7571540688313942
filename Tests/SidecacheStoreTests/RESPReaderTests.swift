import NIOCore
@testable import SidecacheStore
import Testing

/// The reader straight from raw RESP bytes: every reply type comes out as the value it
/// means, and a reply split across reads at any byte comes out once, whole.
@Suite("RESP reader: raw bytes in, whole replies out")
struct RESPReaderTests {
    static func bulk(_ text: String) -> RedisValue { .bulk(ByteBuffer(string: text)) }

    @Test(arguments: [
        ("+OK\r\n", RedisValue.status("OK")),
        ("-ERR wrong number of arguments\r\n", .error("ERR wrong number of arguments")),
        (":42\r\n", .integer(42)),
        (":-7\r\n", .integer(-7)),
        ("$5\r\nhello\r\n", bulk("hello")),
        ("$0\r\n\r\n", bulk("")),
        // Bulk strings are length-prefixed: CR LF inside one is data, not a terminator.
        ("$4\r\na\r\nb\r\n", bulk("a\r\nb")),
        ("$-1\r\n", .bulk(nil)),
        // hiredis reports a nil array as plain nil.
        ("*-1\r\n", .bulk(nil)),
        ("*0\r\n", .array([])),
        ("*3\r\n:1\r\n$-1\r\n-ERR inside\r\n", .array([.integer(1), .bulk(nil), .error("ERR inside")])),
        ("*2\r\n*2\r\n+a\r\n*1\r\n:3\r\n$1\r\nz\r\n", .array([.array([.status("a"), .array([.integer(3)])]), bulk("z")])),
        // Strings at every depth, between other types (one buffer holds them all, in order).
        ("*5\r\n$2\r\nab\r\n*3\r\n$0\r\n\r\n$-1\r\n$3\r\ncde\r\n:5\r\n*1\r\n*1\r\n$2\r\nfg\r\n$1\r\nh\r\n",
         .array([bulk("ab"), .array([bulk(""), .bulk(nil), bulk("cde")]), .integer(5), .array([.array([bulk("fg")])]), bulk("h")])),
    ])
    func oneReply(bytes: String, expected: RedisValue) throws {
        let reader = RESPReader()
        reader.feed(ByteBuffer(string: bytes))
        #expect(try reader.next() == expected)
        #expect(try reader.next() == nil, "one reply's bytes gave a second reply")
    }

    /// An array announced larger than any reply of ours is refused on its announcement.
    /// hiredis reserved its table as announced (16 GB for `*2147483647`) and, when the
    /// reply broke off, freed it slot by slot: 8 s on the event loop per bad reply.
    @Test(arguments: ["*2147483647\r\n", "*1048577\r\n", "*1\r\n*2147483647\r\n", "*4294967295\r\n"])
    func anArrayAnnouncedTooLargeIsRefusedBeforeItsElements(bytes: String) {
        let reader = RESPReader()
        reader.feed(ByteBuffer(string: bytes))
        #expect(throws: RESPReader.Failure.self) { try reader.next() }
    }

    @Test func anArrayAtTheLimitIsRead() throws {
        let reader = RESPReader()
        reader.feed(ByteBuffer(string: "*1048576\r\n"))
        #expect(try reader.next() == nil, "waits for its elements")
    }

    /// Several replies back to back, each with its bytes.
    static let replies: [(bytes: String, value: RedisValue)] = [
        ("+OK\r\n", .status("OK")),
        ("$5\r\nhello\r\n", bulk("hello")),
        ("*2\r\n:1\r\n*1\r\n$-1\r\n", .array([.integer(1), .array([.bulk(nil)])])),
        ("-ERR x\r\n", .error("ERR x")),
        (":9\r\n", .integer(9)),
    ]
    static let stream = replies.map(\.bytes).joined()
    static let streamValues = replies.map(\.value)

    /// Every split point of a stream of replies: a reply comes out as soon as its last
    /// byte is in and not before; everything comes out once, in order.
    @Test func repliesSplitAnywhereComeOutWholeAndInOrder() throws {
        let bytes = Array(Self.stream.utf8)
        let ends = Self.replies.reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1.bytes.utf8.count) }
        for cut in 1..<bytes.count {
            let reader = RESPReader()
            var out: [RedisValue] = []
            reader.feed(ByteBuffer(bytes: bytes[..<cut]))
            while let v = try reader.next() { out.append(v) }
            #expect(out.count == ends.filter { $0 <= cut }.count, "split at byte \(cut)")
            reader.feed(ByteBuffer(bytes: bytes[cut...]))
            while let v = try reader.next() { out.append(v) }
            #expect(out == Self.streamValues, "split at byte \(cut)")
        }
    }

    @Test func oneByteAtATime() throws {
        let reader = RESPReader()
        var out: [RedisValue] = []
        for byte in Self.stream.utf8 {
            reader.feed(ByteBuffer(bytes: [byte]))
            while let v = try reader.next() { out.append(v) }
        }
        #expect(out == Self.streamValues)
    }

    /// A counter read with MGET comes back as a bulk string: read as `Int64(String)` reads it.
    @Test(arguments: ["0", "42", "-7", "+3", "9223372036854775807", "-9223372036854775808",
                      "9223372036854775808", "", "-", "1 2", "12a", " 1", "0x10",
                      // Past the 18 digits read unchecked: overflow, signs, stray bytes.
                      "-9223372036854775809", "18446744073709551616", "99999999999999999999",
                      "0000000000000000000000001", "-0", "+", "123456789012345678", "-123456789012345678",
                      "1234567890123456789", "1234567890123456789a", "12345678901234567a9"])
    func bulkIntegersReadAsInt64Would(text: String) {
        #expect(RedisValue.bulk(ByteBuffer(string: text)).integer == Int64(text))
    }

    @Test func anUnknownTypeByteIsAProtocolError() {
        let reader = RESPReader()
        reader.feed(ByteBuffer(string: "?what\r\n"))
        #expect(throws: RESPReader.Failure.self) { try reader.next() }
    }
}
