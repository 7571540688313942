import NIOCore
import SidecacheCore

/// One Redis reply, as `RESPReader` builds it from hiredis's parse.
public enum RedisValue: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk(ByteBuffer?)
    case array([RedisValue]?)

    public var bytes: ByteBuffer? {
        if case .bulk(let b) = self { return b }
        return nil
    }

    /// A bulk or status reply as text; an integer as its decimal text.
    public var text: String? {
        switch self {
        case .bulk(let b?): String(buffer: b)
        case .status(let s): s
        case .integer(let n): String(n)
        default: nil
        }
    }

    /// An integer reply, or a bulk reply holding one in decimal (MGET of counters),
    /// read from the bytes in place.
    public var integer: Int64? {
        switch self {
        case .integer(let n): n
        case .bulk(let b?): b.withUnsafeReadableBytes(Self.decimal)
        default: nil
        }
    }

    /// What `Int64(String)` reads: an optional sign, then digits only; nil on overflow.
    /// By index on the raw bytes: a Redis hit reads half a dozen counters this way, and
    /// counters start at random 64-bit values (19 digits). No 18 digits overflow, so only
    /// the digits past them are checked (checking all 113 cost 2 150 instructions a Redis hit).
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let count = bytes.count
        guard count > 0 else { return nil }
        let negative = bytes[0] == UInt8(ascii: "-")
        let first = negative || bytes[0] == UInt8(ascii: "+") ? 1 : 0
        guard first < count else { return nil }
        var magnitude: UInt64 = 0
        var i = first
        let unchecked = min(count, first + 18)
        while i < unchecked {
            let digit = bytes[i] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            magnitude = magnitude &* 10 &+ UInt64(digit)
            i += 1
        }
        while i < count {
            let digit = bytes[i] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.addingReportingOverflow(UInt64(digit))
            guard !o1 && !o2 else { return nil }
            magnitude = next
            i += 1
        }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    public var array: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isError: Bool {
        if case .error = self { return true }
        return false
    }

    /// An error reply's message (`OOM command not allowed…`), as Redis wrote it.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}

/// One command's arguments: names and keys as text, values as bytes.
public enum RedisArgument: Sendable, Equatable, ExpressibleByStringLiteral {
    case text(String)
    case bytes(ByteBuffer)
    /// One value sent from several buffers, without joining them first.
    case parts([ByteBuffer])
    /// A key name: `prefix`, then the 16 hex digits of `id` (`UInt64.paddedHex`),
    /// written into the command without a String of its own (a lookup names a counter
    /// per scope).
    case hexName(prefix: String, id: UInt64)

    public init(stringLiteral value: String) { self = .text(value) }
}

extension RedisArgument {
    /// The bytes the argument sends.
    var length: Int {
        switch self {
        case .text(let s): s.utf8.count
        case .bytes(let b): b.readableBytes
        case .parts(let parts): parts.reduce(0) { $0 + $1.readableBytes }
        case .hexName(let prefix, _): prefix.utf8.count + 16
        }
    }
}

extension ByteBuffer {
    /// A command in RESP framing, written straight into the buffer (large values are
    /// not copied into an intermediate C string): its size first, then one pass over
    /// the bytes. A Redis hit's MGET names half a dozen keys, and five small writes an
    /// argument (each with its own capacity check) cost more than the bytes did: 7 400
    /// instructions per Redis hit, even with the room reserved first.
    mutating func writeRedisCommand(_ arguments: [RedisArgument]) {
        let digits = Self.maxDecimalDigits
        writeWithUnsafeMutableBytes(minimumWritableBytes: arguments.reduce(3 + digits) { $0 + 5 + digits + $1.length }) { out in
            var i = 0
            func put(_ byte: UInt8) {
                out[i] = byte
                i += 1
            }
            func put(_ bytes: UnsafeRawBufferPointer) {
                guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
                (out.baseAddress! + i).copyMemory(from: base, byteCount: bytes.count)
                i += bytes.count
            }
            func put(_ marker: UInt8, decimal value: Int) {
                put(marker)
                i += Self.putDecimal(Int64(value), into: out, at: i)
                put(UInt8(ascii: "\r"))
                put(UInt8(ascii: "\n"))
            }
            put(UInt8(ascii: "*"), decimal: arguments.count)
            for argument in arguments {
                put(UInt8(ascii: "$"), decimal: argument.length)
                switch argument {
                case .text(var s): s.withUTF8 { put(UnsafeRawBufferPointer($0)) }
                case .bytes(let b): b.withUnsafeReadableBytes { put($0) }
                case .parts(let parts): for p in parts { p.withUnsafeReadableBytes { put($0) } }
                case .hexName(var prefix, let id):
                    prefix.withUTF8 { put(UnsafeRawBufferPointer($0)) }
                    UInt64.writeHex(id, into: out.assumingMemoryBound(to: UInt8.self), at: i)
                    i += 16
                }
                put(UInt8(ascii: "\r"))
                put(UInt8(ascii: "\n"))
            }
            return i
        }
    }
}
