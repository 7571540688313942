import Crypto
import Foundation

/// Signs the entries an instance writes to a shared store, and checks the ones it
/// reads (DESIGN "Signed entries", `store.signingKey`): an HMAC-SHA256 over the
/// entry's store key and its stored bytes, appended to them. Whoever can write to
/// Redis but does not hold the key cannot make an entry any instance serves, nor move
/// a genuine entry under another key.
public struct EntrySigner: Sendable {
    /// Bytes the signature adds to each stored value.
    public static let signatureLength = SHA256.byteCount
    /// A shorter key is guessable offline (RFC 2104: at least the hash's length).
    public static let minimumKeyBytes = SHA256.byteCount

    private let key: SymmetricKey

    public init(secret: String) {
        key = SymmetricKey(data: Array(secret.utf8))
    }

    /// The signature of `value` (given in the parts it is written from) stored under `name`.
    public func signature(name: String, value parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        Array(mac(name: name, value: parts))
    }

    /// Whether `stored` (a value as read, signature last) was signed with this key for
    /// `name`; the comparison takes the same time whatever the bytes.
    public func verify(name: String, stored: UnsafeRawBufferPointer) -> Bool {
        guard stored.count >= Self.signatureLength else { return false }
        let split = stored.count - Self.signatureLength
        let value = UnsafeRawBufferPointer(rebasing: stored[..<split])
        let given = UnsafeRawBufferPointer(rebasing: stored[split...])
        return mac(name: name, value: [value]) == given
    }

    /// The name is length-prefixed, so no (name, value) pair signs as another.
    private func mac(name: String, value parts: [UnsafeRawBufferPointer]) -> HMAC<SHA256>.MAC {
        var hmac = HMAC<SHA256>(key: key)
        let name = Array(name.utf8)
        withUnsafeBytes(of: UInt32(name.count).bigEndian) { hmac.update(data: $0) }
        hmac.update(data: name)
        for part in parts { hmac.update(data: part) }
        return hmac.finalize()
    }
}
