import NIOCore

/// The buffer a thread assembles whole answers from the cache in, used again for its
/// next one: each hit allocated one (a storage object and its bytes) and freed it once
/// written: 370 of its 32 200 instructions (callgrind; BENCHMARKS, "Twenty-ninth session").
///
/// The buffer handed to NIO and the one kept share one storage. Once the write is done
/// the kept one is its only reference, and `clear` keeps its bytes; while the write
/// still holds it (a client slow to read), `clear` gives the next answer a new storage,
/// as an allocation did before, and leaves the bytes being written alone. A thread keeps
/// one buffer of at most `maxKept` bytes.
final class AnswerBuffer {
    static let maxKept = 16 << 10

    private var kept: ByteBuffer?

    private static let perThread = ThreadSlot<AnswerBuffer>()

    private static var current: AnswerBuffer { perThread.value(orMake: AnswerBuffer.init) }

    /// An empty buffer with room for `capacity` bytes: this thread's kept one (taken
    /// from it, so that it is the buffer's only reference) when there is one.
    static func take(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard capacity <= maxKept, var buffer = current.kept.take() else { return allocator.buffer(capacity: capacity) }
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }

    /// Keeps `buffer`, an answer just handed to NIO, for this thread's next one.
    static func keep(_ buffer: ByteBuffer) {
        guard buffer.capacity <= maxKept else { return }
        current.kept = buffer
    }
}
