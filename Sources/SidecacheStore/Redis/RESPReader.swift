import CHiredis
import NIOCore

/// Redis replies parsed by hiredis's reader: bytes go in as they arrive (in any
/// pieces), whole replies come out. One owner, one thread (the channel's event loop).
final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private let allocator = ByteBufferAllocator()

    init() {
        reader = redisReaderCreate()
    }

    deinit {
        redisReaderFree(reader)
    }

    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return }
            _ = redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), raw.count)
        }
    }

    enum Failure: Error { case protocolError(String) }

    /// The next complete reply, or nil when more bytes are needed.
    func next() throws(Failure) -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
            let message = withUnsafeBytes(of: reader.pointee.errstr) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            throw .protocolError(message)
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return value(reply.assumingMemoryBound(to: redisReply.self))
    }

    private func value(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            var buffer = allocator.buffer(capacity: Int(r.len))
            buffer.writeBytes(UnsafeRawBufferPointer(start: r.str, count: Int(r.len)))
            return .bulk(buffer)
        case REDIS_REPLY_STATUS:
            return .status(String(cString: r.str))
        case REDIS_REPLY_ERROR:
            return .error(String(cString: r.str))
        case REDIS_REPLY_INTEGER:
            return .integer(r.integer)
        case REDIS_REPLY_NIL:
            return .bulk(nil)
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(r.elements)).map { value(r.element[$0]!) })
        default:
            return .error("unknown reply type \(r.type)")
        }
    }
}
