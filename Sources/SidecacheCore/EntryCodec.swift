/// The versioned binary form of a cache entry in a shared store (Redis).
///
/// Layout, big-endian: magic `SCE` + version (1), status (u16), birth, freshUntil,
/// staleWhileRevalidateUntil, staleIfErrorUntil, revalidateUntil (i64 ms each), epoch (16 bytes),
/// generation count (u16) then (scope id u64, generation u64) pairs, head length (u32),
/// body length (u32), then the head bytes and the body bytes.
///
/// The header carries both lengths, so a writer can append head and body from its own
/// buffers without copying them into one array first. Anything that does not match
/// the layout exactly decodes to nil: foreign or corrupt values are misses, never crashes.
public enum EntryCodec {
    public static let magic: [UInt8] = [0x53, 0x43, 0x45, 0x01]   // "SCE", version 1

    /// Purge generations an entry was filled under: the store's epoch and one counter per scope.
    public struct Generations: Sendable, Equatable {
        public var epoch: [UInt8]
        public var values: [(scope: UInt64, value: UInt64)]
        /// The stripe's count of tag purges when these counters were read (0: none yet,
        /// nil: not read). A fill learns its tags only from its answer, so no counter of
        /// theirs was read when it began: a tag marked purged at a later count keeps it
        /// out of Redis. Neither stored with an entry nor compared.
        public var tagSequence: UInt64?

        public init(epoch: [UInt8], values: [(scope: UInt64, value: UInt64)], tagSequence: UInt64? = nil) {
            self.epoch = epoch
            self.values = values
            self.tagSequence = tagSequence
        }

        public static func == (a: Generations, b: Generations) -> Bool {
            a.epoch == b.epoch && a.values.elementsEqual(b.values) { $0.scope == $1.scope && $0.value == $1.value }
        }
    }

    public struct Decoded: Sendable {
        public var status: Int
        public var timing: EntryTiming
        public var generations: Generations
        /// Where the pre-encoded head and the body sit in the decoded bytes.
        public var head: Range<Int>
        public var body: Range<Int>
    }

    /// Everything before the head bytes.
    public static func header(status: Int, timing: EntryTiming, generations: Generations,
                              headLength: Int, bodyLength: Int) -> [UInt8] {
        precondition(generations.epoch.count == 16 && generations.values.count <= Int(UInt16.max))
        var out = magic
        out.reserveCapacity(4 + 2 + 40 + 16 + 2 + 16 * generations.values.count + 8)
        out.appendBigEndian(UInt16(clamping: status))
        for t in [timing.birth, timing.freshUntil, timing.staleWhileRevalidateUntil, timing.staleIfErrorUntil, timing.revalidateUntil] {
            out.appendBigEndian(UInt64(bitPattern: t.milliseconds))
        }
        out += generations.epoch
        out.appendBigEndian(UInt16(generations.values.count))
        for g in generations.values {
            out.appendBigEndian(g.scope)
            out.appendBigEndian(g.value)
        }
        out.appendBigEndian(UInt32(headLength))
        out.appendBigEndian(UInt32(bodyLength))
        return out
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Decoded? {
        var r = Reader(bytes: bytes)
        guard r.take(4).map({ Array($0) }) == magic,
              let status = r.u16(),
              let birth = r.u64(), let fresh = r.u64(), let swr = r.u64(), let sie = r.u64(), let keep = r.u64(),
              let epoch = r.take(16), let count = r.u16() else { return nil }
        var values: [(scope: UInt64, value: UInt64)] = []
        values.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let scope = r.u64(), let value = r.u64() else { return nil }
            values.append((scope, value))
        }
        guard let headLength = r.u32(), let bodyLength = r.u32() else { return nil }
        let headStart = r.offset
        guard r.take(Int(headLength)) != nil else { return nil }
        let bodyStart = r.offset
        guard r.take(Int(bodyLength)) != nil, r.offset == bytes.count else { return nil }
        let timing = EntryTiming(birth: Timestamp(milliseconds: Int64(bitPattern: birth)),
                                 freshUntil: Timestamp(milliseconds: Int64(bitPattern: fresh)),
                                 staleWhileRevalidateUntil: Timestamp(milliseconds: Int64(bitPattern: swr)),
                                 staleIfErrorUntil: Timestamp(milliseconds: Int64(bitPattern: sie)),
                                 revalidateUntil: Timestamp(milliseconds: Int64(bitPattern: keep)))
        return Decoded(status: Int(status), timing: timing, generations: Generations(epoch: Array(epoch), values: values),
                       head: headStart..<bodyStart, body: bodyStart..<r.offset)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        mutating func take(_ n: Int) -> UnsafeRawBufferPointer.SubSequence? {
            guard n >= 0, bytes.count - offset >= n else { return nil }
            defer { offset += n }
            return bytes[offset..<offset + n]
        }

        mutating func u16() -> UInt16? { take(2).map { $0.reduce(0) { $0 << 8 | UInt16($1) } } }
        mutating func u32() -> UInt32? { take(4).map { $0.reduce(0) { $0 << 8 | UInt32($1) } } }
        mutating func u64() -> UInt64? { take(8).map { $0.reduce(0) { $0 << 8 | UInt64($1) } } }
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
