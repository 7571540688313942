import NIOCore
import Testing
@testable import SidecacheServer

/// The decoded forms a thread keeps for a store without L1: found by the stored head and
/// the gzip trailer, given only for the very same stored bytes.
@Suite struct RecentlyDecodedTests {
    static let trailer: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]

    static func form(_ head: String, _ body: [UInt8], trailer: [UInt8] = trailer) -> RecentlyDecoded.Form {
        RecentlyDecoded.Form(storedHead: ByteBuffer(string: head), storedBody: ByteBuffer(bytes: body + trailer),
                             head: ByteBuffer(string: head + "!"), body: ByteBuffer(string: "plain"))
    }

    @Test func aFormIsGivenForTheSameStoredBytesOnly() {
        let recent = RecentlyDecoded(maxBytes: 1 << 20)
        let kept = Self.form("HTTP/1.1 200 OK\r\n", Array(repeating: 7, count: 20))
        recent.keep(kept)
        let found = recent.form(head: ByteBuffer(string: "HTTP/1.1 200 OK\r\n"), body: ByteBuffer(bytes: Array(repeating: 7, count: 20) + Self.trailer))
        #expect(found?.body == ByteBuffer(string: "plain"), "equal bytes in other buffers")
        // The same trailer (CRC-32 and length) over other bytes, or another head: not this form.
        #expect(recent.form(head: kept.storedHead, body: ByteBuffer(bytes: Array(repeating: 9, count: 20) + Self.trailer)) == nil)
        #expect(recent.form(head: ByteBuffer(string: "HTTP/1.1 404 Not Found\r\n"), body: kept.storedBody) == nil)
    }

    @Test func oneBodyUnderManyHeadsIsKeptForEachOfThem() {
        // One answer stored under many keys: the same gzip body, heads that differ (their
        // `Date` at least). Each key's form stays found; none takes another's place.
        let recent = RecentlyDecoded(maxBytes: 1 << 20)
        let body = Array(repeating: UInt8(7), count: 20)
        let heads = (0..<100).map { "HTTP/1.1 200 OK\r\nDate: \($0)\r\n" }
        for head in heads { recent.keep(Self.form(head, body)) }
        let found = heads.filter { recent.form(head: ByteBuffer(string: $0), body: ByteBuffer(bytes: body + Self.trailer)) != nil }
        #expect(found.count == heads.count)
    }

    static func numbered(_ i: Int, size: Int = 12) -> RecentlyDecoded.Form {
        form("h", Array(repeating: 0, count: size), trailer: [UInt8(i & 0xff), UInt8(i >> 8), 0, 0, 0, 0, 0, 0])
    }

    static func found(_ i: Int, in recent: RecentlyDecoded, size: Int = 12) -> Bool {
        recent.form(head: numbered(i, size: size).storedHead, body: numbered(i, size: size).storedBody) != nil
    }

    @Test func pastItsBoundAFewFormsGiveWayAndTheRestStay() {
        let recent = RecentlyDecoded(maxBytes: 256 << 10)
        let n = recent.maxForms
        for i in 0..<n { recent.keep(Self.numbered(i)) }
        #expect((0..<n).allSatisfy { Self.found($0, in: recent) }, "all \(n) kept")
        // Twice the bound more: each new form is kept and most of the first ones stay
        // (a table emptied when full would keep none of them).
        for i in n..<(2 * n) { recent.keep(Self.numbered(i)) }
        #expect(Self.found(2 * n - 1, in: recent))
        let stayed = (0..<n).filter { Self.found($0, in: recent) }.count
        let kept = (0..<(2 * n)).filter { Self.found($0, in: recent) }.count
        #expect(kept == n, "the table holds its bound")
        #expect(stayed > 0 && stayed < n, "\(stayed) of the first \(n) stayed")
    }

    @Test func itsBytesStayWithinItsShare() {
        let recent = RecentlyDecoded(maxBytes: 256 << 10)
        let size = 40_000
        for i in 0..<20 { recent.keep(Self.numbered(i, size: size)) }
        let kept = (0..<20).filter { Self.found($0, in: recent, size: size) }.count
        #expect(kept == (256 << 10) / Self.numbered(0, size: size).bytes, "as many 40 kB forms as 256 KiB holds")
        #expect(Self.found(19, in: recent, size: size), "the last one kept")
        // A form larger than the whole share is not kept, and takes nothing out.
        recent.keep(Self.numbered(99, size: 300_000))
        #expect(!Self.found(99, in: recent, size: 300_000))
        #expect((0..<20).filter { Self.found($0, in: recent, size: size) }.count == kept)
    }

    @Test func theThreadsShareEightMebibytes() {
        #expect(RecentlyDecoded.share(threads: 2) == 4 << 20)
        #expect(RecentlyDecoded.share(threads: 64) == 256 << 10, "never below 256 KiB")
        #expect(RecentlyDecoded.share(threads: 0) == 8 << 20)
    }
}
