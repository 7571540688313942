import Crypto

/// SHA-256 of a body: what request-body keys hash into the key, and what shadow
/// verification compares, without either keeping the bytes.
public struct BodyHash: Sendable, Equatable {
    let digest: SHA256.Digest

    public init(_ bytes: UnsafeRawBufferPointer) {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        digest = hasher.finalize()
    }
}
