import NIOCore
import NIOPosix

/// The decoded forms a thread made last, for a store without L1 (`store.memory: "0"`):
/// its entries come from Redis on every hit and keep no decoded form, so every hit of a
/// client without gzip inflated the same bytes again (a sixth of such a hit's
/// instructions, BENCHMARKS.md). A form is found by its stored head and its body's gzip
/// trailer (CRC-32 and length) and taken only for the very same stored head and body
/// bytes: an entry replaced or purged in Redis is never answered from here.
final class RecentlyDecoded {
    struct Form {
        let storedHead: ByteBuffer
        let storedBody: ByteBuffer
        let head: ByteBuffer
        let body: ByteBuffer

        var bytes: Int { storedHead.readableBytes + storedBody.readableBytes + head.readableBytes + body.readableBytes }
    }

    /// What all threads keep together (each its share): a thousand hot 1 KiB answers
    /// per thread fit on two threads, where 64 forms per thread missed nearly every hit of
    /// a working set that size (BENCHMARKS.md). A share holds at least 256 KiB.
    static let totalBytes = 8 << 20
    /// A form's heads alone are some hundreds of bytes, so this bounds the table of a
    /// share filled with tiny forms.
    static let bytesPerForm = 1024

    let maxBytes: Int
    var maxForms: Int { maxBytes / Self.bytesPerForm }
    /// By `slot(head:trailer:)`.
    private var forms: [UInt64: Form] = [:]
    private var bytes = 0

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    static func share(threads: Int) -> Int { max(totalBytes / max(threads, 1), 256 << 10) }

    private static let perThread = ThreadSlot<RecentlyDecoded>()

    /// This thread's, made with its share of `totalBytes` among `threads` (nil: one per core).
    static func current(threads: Int?) -> RecentlyDecoded {
        perThread.value { RecentlyDecoded(maxBytes: share(threads: threads ?? System.coreCount)) }
    }

    /// This thread's, when the store keeps no decoded forms with its entries (no L1).
    static func kept(engine: ProxyEngine, settings: ProxySettings) -> RecentlyDecoded? {
        engine.store.memory.capacityBytes == 0 ? current(threads: settings.config.threads) : nil
    }

    /// The decoded form kept for exactly these stored bytes, if any.
    func form(head: ByteBuffer, body: ByteBuffer) -> Form? {
        guard let trailer = Self.trailer(body), let form = forms[Self.slot(head: head, trailer: trailer)],
              form.storedBody == body, form.storedHead == head else { return nil }
        return form
    }

    /// Keeps `form`, its stored bytes copied: they may be slices of a larger read from
    /// Redis, whose whole storage a kept slice would hold.
    func keep(_ form: Form) {
        guard let trailer = Self.trailer(form.storedBody), form.bytes <= maxBytes else { return }
        let slot = Self.slot(head: form.storedHead, trailer: trailer)
        let form = Form(storedHead: Self.compact(form.storedHead), storedBody: Self.compact(form.storedBody), head: form.head, body: form.body)
        if let replaced = forms.removeValue(forKey: slot) { bytes -= replaced.bytes }
        // Room is made by dropping the forms in the table's first slots: which ones is
        // down to their hashes, so the same few give way each time and the rest of a
        // working set larger than the share stays found (emptying the table when full
        // made such a set miss on every hit).
        while !forms.isEmpty && (forms.count >= maxForms || bytes + form.bytes > maxBytes) {
            bytes -= forms.remove(at: forms.startIndex).value.bytes
        }
        forms[slot] = form
        bytes += form.bytes
    }

    private static func compact(_ buffer: ByteBuffer) -> ByteBuffer {
        ByteBuffer(bytes: buffer.readableBytesView)
    }

    /// Where the form of these stored bytes is kept. The head counts as well as the
    /// body's trailer: entries of one body under many keys (one default answer, or a page
    /// under every tracking query) differ in their heads, if only in `Date`; found by the
    /// trailer alone, they took one slot in turn and each hit inflated its body again
    /// (the bench's 1000 keys, which share one body: three hits in four under load).
    ///
    /// The head's 8-byte words each go through one multiply and shift: `Hasher` over a
    /// bench head cost some 1 300 instructions a hit, this a few hundred. Each step is a
    /// bijection, so two heads of one length that differ in one word never share a slot;
    /// a shared slot would only cost a decode.
    private static func slot(head: ByteBuffer, trailer: UInt64) -> UInt64 {
        head.withUnsafeReadableBytes { bytes in
            var slot = mix(trailer ^ UInt64(bytes.count))
            var at = 0
            while at + 8 <= bytes.count {
                slot = mix(slot ^ bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                at += 8
            }
            var last: UInt64 = 0
            while at < bytes.count {
                last = last << 8 | UInt64(bytes[at])
                at += 1
            }
            return mix(slot ^ last)
        }
    }

    private static func mix(_ word: UInt64) -> UInt64 {
        let product = word &* 0x9E37_79B9_7F4A_7C15
        return product ^ (product >> 32)
    }

    /// The last 8 bytes of a gzip body: CRC-32 and length of what it decodes to.
    private static func trailer(_ body: ByteBuffer) -> UInt64? {
        guard body.readableBytes >= 18 else { return nil }
        return body.getInteger(at: body.writerIndex - 8, as: UInt64.self)
    }
}
