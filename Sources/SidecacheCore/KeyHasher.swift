import Crypto

/// SHA-256 over a key's parts, each length-prefixed (`part`, `count`), fed to the digest
/// a kilobyte at a time from memory on the caller's stack. Every `SHA256.update` is a call
/// into BoringSSL behind swift-crypto's copy-on-write context, and the bench hit's key
/// made nine of them; gathered first, they are one. The bytes hashed, so the keys, are
/// the same (`StoredKeyFormatTests`): entries in Redis outlive the version that stored them.
struct KeyHasher {
    private var digest = SHA256()
    private let gathered: UnsafeMutableRawBufferPointer
    private var used = 0

    /// Hashes what `body` feeds, gathering it on the stack a kilobyte at a time.
    static func digest(_ body: (inout KeyHasher) -> Void) -> SHA256.Digest {
        withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 1) { memory in
            var hasher = KeyHasher(gathered: memory)
            body(&hasher)
            hasher.flush()
            return hasher.digest.finalize()
        }
    }

    private init(gathered: UnsafeMutableRawBufferPointer) {
        self.gathered = gathered
    }

    mutating func count(_ n: Int) {
        var n = UInt32(truncatingIfNeeded: n).bigEndian
        Swift.withUnsafeBytes(of: &n) { append($0) }
    }

    mutating func part(_ s: some StringProtocol) {
        count(s.utf8.count)
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if done == nil {
            var copy = String(s)   // bridged or foreign storage only
            copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
        }
    }

    /// Bytes as they are, without a length.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        if used + bytes.count > gathered.count {
            flush()
            if bytes.count > gathered.count { return digest.update(bufferPointer: bytes) }
        }
        (gathered.baseAddress! + used).copyMemory(from: source, byteCount: bytes.count)
        used += bytes.count
    }

    private mutating func flush() {
        guard used > 0 else { return }
        digest.update(bufferPointer: UnsafeRawBufferPointer(rebasing: gathered[..<used]))
        used = 0
    }
}
