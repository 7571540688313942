import Crypto
import SidecacheCore
import Synchronization

/// Tokens that verified, by the SHA-256 of the token, until they expire (or at most
/// `maxAge`): a request with a token seen before pays one hash and one uncontended
/// shard lock instead of a signature check. Bounded: a full shard first drops what
/// expired, then arbitrary entries. The tokens themselves are not kept.
final class VerifiedTokens: Sendable {
    struct Verified: Sendable {
        let claims: [String: String]
        let until: Timestamp
    }

    private struct TokenHash: Hashable {
        let a, b, c, d: UInt64
    }

    private final class Shard: Sendable {
        let entries = Mutex<[TokenHash: Verified]>([:])
    }

    static let maxAge = Duration.seconds(600)
    private let shards: [Shard]
    private let perShard: Int

    init(capacity: Int = 16_384, shards count: Int = 16) {
        shards = (0..<count).map { _ in Shard() }
        perShard = max(1, capacity / count)
    }

    func claims(_ token: Substring, now: Timestamp) -> [String: String]? {
        let hash = Self.hash(token)
        let found = shard(hash).entries.withLock { $0[hash] }
        guard let found, now < found.until else { return nil }
        return found.claims
    }

    func remember(_ token: Substring, claims: [String: String], until: Timestamp, now: Timestamp) {
        let hash = Self.hash(token)
        let until = min(until, now + Self.maxAge)
        shard(hash).entries.withLock { entries in
            if entries.count >= perShard, entries[hash] == nil {
                entries = entries.filter { now < $0.value.until }
                while entries.count >= perShard, let victim = entries.keys.first { entries[victim] = nil }
            }
            entries[hash] = Verified(claims: claims, until: until)
        }
    }

    private func shard(_ hash: TokenHash) -> Shard { shards[Int(hash.a % UInt64(shards.count))] }

    private static func hash(_ token: Substring) -> TokenHash {
        var hasher = SHA256()
        var token = token
        token.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize().withUnsafeBytes { raw in
            TokenHash(a: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), b: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                      c: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), d: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }
}
