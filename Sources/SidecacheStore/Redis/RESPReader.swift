import CHiredis
import NIOCore

/// Redis replies parsed by hiredis's reader: bytes go in as they arrive (in any
/// pieces), whole replies come out. One owner, one thread (the channel's event loop).
final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private let allocator = ByteBufferAllocator()

    /// No reply of ours holds more elements (the largest are a cluster's `CLUSTER
    /// SLOTS` and an MGET of a few dozen keys).
    static let maxElements: Int32 = 1 << 20

    init() {
        reader = redisReaderCreate()
        reader.pointee.fn = boundedReplyFunctions
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
        let root = reply.assumingMemoryBound(to: redisReply.self)
        var strings = allocator.buffer(capacity: Self.stringBytes(root))
        Self.copyStrings(root, into: &strings)
        var offset = strings.readerIndex
        return Self.value(root, slicing: strings, at: &offset)
    }

    /// The bytes of every bulk string in `reply`. They are copied into one buffer that
    /// every bulk value slices: a Redis hit's MGET answers half a dozen strings, and a
    /// buffer each cost an allocation and a free each.
    private static func stringBytes(_ reply: UnsafeMutablePointer<redisReply>) -> Int {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING: return Int(r.len)
        case REDIS_REPLY_ARRAY: return (0..<Int(r.elements)).reduce(0) { $0 + stringBytes(r.element[$1]!) }
        default: return 0
        }
    }

    private static func copyStrings(_ reply: UnsafeMutablePointer<redisReply>, into strings: inout ByteBuffer) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING: strings.writeBytes(UnsafeRawBufferPointer(start: r.str, count: Int(r.len)))
        case REDIS_REPLY_ARRAY: for i in 0..<Int(r.elements) { copyStrings(r.element[i]!, into: &strings) }
        default: break
        }
    }

    /// The reply as a value; its bulk strings are the slices of `strings` from `offset`
    /// on, in the order `copyStrings` wrote them (no write follows, so no slice is copied).
    private static func value(_ reply: UnsafeMutablePointer<redisReply>, slicing strings: ByteBuffer, at offset: inout Int) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            defer { offset += Int(r.len) }
            return .bulk(strings.getSlice(at: offset, length: Int(r.len))!)
        case REDIS_REPLY_STATUS:
            return .status(String(cString: r.str))
        case REDIS_REPLY_ERROR:
            return .error(String(cString: r.str))
        case REDIS_REPLY_INTEGER:
            return .integer(r.integer)
        case REDIS_REPLY_NIL:
            return .bulk(nil)
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(r.elements)).map { value(r.element[$0]!, slicing: strings, at: &offset) })
        default:
            return .error("unknown reply type \(r.type)")
        }
    }
}

/// hiredis's own reply builders, but for arrays announced with more than
/// `RESPReader.maxElements` elements: hiredis 0.14 allocates an array's element table
/// as announced (`*2147483647` is 16 GB, which overcommit grants) and, when the reply
/// then breaks off, walks all of it to free it — seconds on the event loop, every
/// client of that loop stalled, from one bad reply. Refused, the reply is a protocol
/// error ("Out of memory") before anything is allocated, and the connection is dropped.
private nonisolated(unsafe) let boundedReplyFunctions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
    let functions = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
    functions.initialize(to: hiredisReplyFunctions)
    functions.pointee.createArray = { task, elements in
        guard elements >= 0, elements <= RESPReader.maxElements else { return nil }
        return hiredisReplyFunctions.createArray(task, elements)
    }
    return functions
}()

/// The builders a reader gets from `redisReaderCreate` (hiredis keeps them private).
private let hiredisReplyFunctions: redisReplyObjectFunctions = {
    let reader = redisReaderCreate()!
    defer { redisReaderFree(reader) }
    return reader.pointee.fn.pointee
}()
