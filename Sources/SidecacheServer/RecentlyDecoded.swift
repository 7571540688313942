import NIOCore
import NIOPosix

/// The decoded forms a thread made last, for a store without L1 (`store.memory: "0"`):
/// its entries come from Redis on every hit and keep no decoded form, so every hit of a
/// client without gzip inflated the same bytes again (a sixth of such a hit's
/// instructions, BENCHMARKS.md). A form is found by its gzip trailer (CRC-32 and length)
/// and taken only for the very same stored head and body bytes: an entry replaced or
/// purged in Redis is never answered from here.
final class RecentlyDecoded {
    struct Form {
        let storedHead: ByteBuffer
        let storedBody: ByteBuffer
        let head: ByteBuffer
        let body: ByteBuffer

        var bytes: Int { storedHead.readableBytes + storedBody.readableBytes + head.readableBytes + body.readableBytes }
    }

    /// What each thread keeps: at most this many forms and bytes, then it starts over.
    static let maxForms = 64
    static let maxBytes = 1 << 20

    private var forms: [UInt64: Form] = [:]
    private var bytes = 0

    /// This thread's (`unsafe`: each thread only ever sees its own).
    nonisolated(unsafe) private static let perThread = ThreadSpecificVariable<RecentlyDecoded>()

    static var current: RecentlyDecoded {
        if let kept = perThread.currentValue { return kept }
        let made = RecentlyDecoded()
        perThread.currentValue = made
        return made
    }

    /// The decoded form kept for exactly these stored bytes, if any.
    func form(head: ByteBuffer, body: ByteBuffer) -> Form? {
        guard let trailer = Self.trailer(body), let form = forms[trailer],
              form.storedBody == body, form.storedHead == head else { return nil }
        return form
    }

    /// Keeps `form`, its stored bytes copied: they may be slices of a larger read from
    /// Redis, whose whole storage a kept slice would hold.
    func keep(_ form: Form) {
        guard let trailer = Self.trailer(form.storedBody), form.bytes <= Self.maxBytes else { return }
        let form = Form(storedHead: Self.compact(form.storedHead), storedBody: Self.compact(form.storedBody), head: form.head, body: form.body)
        if forms.count >= Self.maxForms || bytes + form.bytes > Self.maxBytes {
            forms.removeAll(keepingCapacity: true)
            bytes = 0
        }
        if let replaced = forms.updateValue(form, forKey: trailer) { bytes -= replaced.bytes }
        bytes += form.bytes
    }

    private static func compact(_ buffer: ByteBuffer) -> ByteBuffer {
        ByteBuffer(bytes: buffer.readableBytesView)
    }

    /// The last 8 bytes of a gzip body: CRC-32 and length of what it decodes to.
    private static func trailer(_ body: ByteBuffer) -> UInt64? {
        guard body.readableBytes >= 18 else { return nil }
        return body.getInteger(at: body.writerIndex - 8, as: UInt64.self)
    }
}
