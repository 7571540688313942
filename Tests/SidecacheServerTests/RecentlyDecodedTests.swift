import NIOCore
import Testing
@testable import SidecacheServer

/// The decoded forms a thread keeps for a store without L1: found by the gzip trailer,
/// given only for the very same stored bytes.
@Suite struct RecentlyDecodedTests {
    static let trailer: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]

    static func form(_ head: String, _ body: [UInt8], trailer: [UInt8] = trailer) -> RecentlyDecoded.Form {
        RecentlyDecoded.Form(storedHead: ByteBuffer(string: head), storedBody: ByteBuffer(bytes: body + trailer),
                             head: ByteBuffer(string: head + "!"), body: ByteBuffer(string: "plain"))
    }

    @Test func aFormIsGivenForTheSameStoredBytesOnly() {
        let recent = RecentlyDecoded()
        let kept = Self.form("HTTP/1.1 200 OK\r\n", Array(repeating: 7, count: 20))
        recent.keep(kept)
        let found = recent.form(head: ByteBuffer(string: "HTTP/1.1 200 OK\r\n"), body: ByteBuffer(bytes: Array(repeating: 7, count: 20) + Self.trailer))
        #expect(found?.body == ByteBuffer(string: "plain"), "equal bytes in other buffers")
        // The same trailer (CRC-32 and length) over other bytes, or another head: not this form.
        #expect(recent.form(head: kept.storedHead, body: ByteBuffer(bytes: Array(repeating: 9, count: 20) + Self.trailer)) == nil)
        #expect(recent.form(head: ByteBuffer(string: "HTTP/1.1 404 Not Found\r\n"), body: kept.storedBody) == nil)
    }

    @Test func pastItsBoundItStartsOver() {
        let recent = RecentlyDecoded()
        func numbered(_ i: Int) -> RecentlyDecoded.Form { Self.form("h", Array(repeating: 0, count: 12), trailer: [UInt8(i), 0, 0, 0, 0, 0, 0, 0]) }
        for i in 0..<RecentlyDecoded.maxForms { recent.keep(numbered(i)) }
        for i in [0, RecentlyDecoded.maxForms - 1] {
            #expect(recent.form(head: numbered(i).storedHead, body: numbered(i).storedBody) != nil, "form \(i) kept")
        }
        recent.keep(numbered(RecentlyDecoded.maxForms))
        #expect(recent.form(head: numbered(0).storedHead, body: numbered(0).storedBody) == nil)
        #expect(recent.form(head: numbered(RecentlyDecoded.maxForms).storedHead, body: numbered(RecentlyDecoded.maxForms).storedBody) != nil)
    }
}
