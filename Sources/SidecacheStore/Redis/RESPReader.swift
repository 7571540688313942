import CHiredis
import NIOCore

/// Redis replies parsed by hiredis's reader: bytes go in as they arrive (in any
/// pieces), whole replies come out. One owner, one thread (the channel's event loop).
///
/// hiredis builds each reply through the functions it is given; ours note its parts in
/// order and copy every bulk string into one buffer that the reply's bulk values slice.
/// hiredis's own builders made a `redisReply` and a string for each element (a Redis
/// hit's MGET has ten), which were then copied out and freed: 14 000 of a Redis hit's
/// 99 800 instructions (BENCHMARKS.md, twenty-sixth session).
final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>
    /// The parts of the reply being read, in hiredis's order: an array, then its elements.
    fileprivate var parts: [Part] = []
    /// The bytes of its bulk strings, in the same order; made with its first one.
    fileprivate var strings: ByteBuffer?

    fileprivate enum Part {
        case bulk(length: Int)
        case null
        case integer(Int64)
        case status(String)
        case error(String)
        case array(count: Int)
    }

    /// No reply of ours holds more elements (the largest are a cluster's `CLUSTER
    /// SLOTS` and an MGET of a few dozen keys): a larger announcement is a protocol error
    /// at once, not a wait for elements that a sane server never sends.
    static let maxElements: Int32 = 1 << 20

    init() {
        reader = redisReaderCreateWithFunctions(replyBuilders)
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
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
            parts.removeAll()
            strings = nil
            let message = withUnsafeBytes(of: reader.pointee.errstr) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            throw .protocolError(message)
        }
        guard reply != nil else { return nil }
        defer {
            parts.removeAll(keepingCapacity: true)
            strings = nil
        }
        var index = 0
        var offset = 0
        return value(at: &index, stringsFrom: &offset)
    }

    /// The reply's part at `index` as a value; its bulk strings are the slices of
    /// `strings` from `offset` on (no write follows, so no slice is copied).
    private func value(at index: inout Int, stringsFrom offset: inout Int) -> RedisValue {
        let part = parts[index]
        index += 1
        switch part {
        case .bulk(let length):
            defer { offset += length }
            return .bulk(strings!.getSlice(at: offset, length: length)!)
        case .null: return .bulk(nil)
        case .integer(let n): return .integer(n)
        case .status(let text): return .status(text)
        case .error(let text): return .error(text)
        case .array(let count):
            var elements: [RedisValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(value(at: &index, stringsFrom: &offset)) }
            return .array(elements)
        }
    }

    /// A string hiredis has read whole (`bytes` points into its buffer, for this call only).
    fileprivate func note(_ type: Int32, _ bytes: UnsafeRawBufferPointer) {
        switch type {
        case REDIS_REPLY_STRING:
            if strings == nil {
                // Room for this string and what follows it in hiredis's buffer (the rest
                // of the reply when it came in one read), up to 1 KiB more (a lookup's
                // epoch and counters, some 20 bytes a scope): the buffer is made once,
                // not grown past an entry that L1 may keep as slices of it. (NIO rounds
                // a buffer's storage up to a power of two either way.)
                let end = UnsafeRawPointer(reader.pointee.buf) + Int(reader.pointee.len)
                let after = end - (bytes.baseAddress! + bytes.count)
                strings = ByteBufferAllocator().buffer(capacity: bytes.count + min(max(after, 0), 1024))
            }
            strings!.writeBytes(bytes)
            parts.append(.bulk(length: bytes.count))
        case REDIS_REPLY_STATUS: parts.append(.status(String(decoding: bytes, as: UTF8.self)))
        default: parts.append(.error(String(decoding: bytes, as: UTF8.self)))
        }
    }
}

/// The reader of `task` (its `privdata`), given `body` to note a part; what hiredis
/// holds as the part's object is that pointer (any but NULL, which means out of memory).
/// The reader is in its own `next()` meanwhile, so it is borrowed without a retain.
private func noting(_ task: UnsafePointer<redisReadTask>?, _ body: (RESPReader) -> Void) -> UnsafeMutableRawPointer? {
    guard let owner = task?.pointee.privdata else { return nil }
    Unmanaged<RESPReader>.fromOpaque(owner)._withUnsafeGuaranteedRef(body)
    return owner
}

/// The builders every reader is made with. Nothing is allocated per part, so there is
/// nothing to free.
private nonisolated(unsafe) let replyBuilders: UnsafeMutablePointer<redisReplyObjectFunctions> = {
    let functions = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
    functions.initialize(to: redisReplyObjectFunctions(
        createString: { task, bytes, length in
            noting(task) { $0.note(task!.pointee.type, UnsafeRawBufferPointer(start: bytes, count: length)) }
        },
        createArray: { task, count in
            guard count >= 0, count <= RESPReader.maxElements else { return nil }
            return noting(task) { $0.parts.append(.array(count: Int(count))) }
        },
        createInteger: { task, n in noting(task) { $0.parts.append(.integer(n)) } },
        createNil: { task in noting(task) { $0.parts.append(.null) } },
        freeObject: { _ in }))
    return functions
}()
