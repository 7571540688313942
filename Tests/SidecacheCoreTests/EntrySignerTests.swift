import SidecacheCore
import Testing

@Suite struct EntrySignerTests {
    let signer = EntrySigner(secret: "a-key-of-at-least-thirty-two-bytes!!")

    func stored(_ name: String, _ value: [UInt8], by signer: EntrySigner) -> [UInt8] {
        value + value.withUnsafeBytes { signer.signature(name: name, value: [$0]) }
    }

    @Test func aSignedValueVerifiesUnderItsNameOnly() {
        let value = stored("e:1", Array("entry bytes".utf8), by: signer)
        #expect(value.count == "entry bytes".utf8.count + EntrySigner.signatureLength)
        #expect(value.withUnsafeBytes { signer.verify(name: "e:1", stored: $0) })
        #expect(!value.withUnsafeBytes { signer.verify(name: "e:2", stored: $0) })
    }

    /// Value parts hash as their concatenation: the writer signs head and body in place.
    @Test func partsSignAsTheirConcatenation() {
        let whole = Array("headbody".utf8)
        let inParts = Array("head".utf8).withUnsafeBytes { h in
            Array("body".utf8).withUnsafeBytes { b in signer.signature(name: "e", value: [h, b]) }
        }
        #expect(whole.withUnsafeBytes { signer.signature(name: "e", value: [$0]) } == inParts)
    }

    @Test func anyChangedByteOrAnotherKeyFails() {
        let value = stored("e", Array("entry bytes".utf8), by: signer)
        for i in value.indices {
            var tampered = value
            tampered[i] ^= 0x01
            #expect(!tampered.withUnsafeBytes { signer.verify(name: "e", stored: $0) }, "byte \(i)")
        }
        let other = EntrySigner(secret: "another-key-of-at-least-thirty-two!!")
        #expect(!value.withUnsafeBytes { other.verify(name: "e", stored: $0) })
        #expect(!Array(value.dropLast()).withUnsafeBytes { signer.verify(name: "e", stored: $0) })
        #expect(![UInt8]().withUnsafeBytes { signer.verify(name: "e", stored: $0) })
    }

    /// The name is length-prefixed: moving a byte between name and value changes the MAC.
    @Test func nameAndValueCannotTradeBytes() {
        let a = Array("cd".utf8).withUnsafeBytes { signer.signature(name: "ab", value: [$0]) }
        let b = Array("bcd".utf8).withUnsafeBytes { signer.signature(name: "a", value: [$0]) }
        #expect(a != b)
    }
}
