import NIOCore

/// One Redis reply, copied out of hiredis's `redisReply` (which is freed at once).
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
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var digits = bytes[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !o1 && !o2 else { return nil }
            value = next
        }
        return value
    }

    public var array: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isError: Bool {
        if case .error = self { return true }
        return false
    }
}

/// One command's arguments: names and keys as text, values as bytes.
public enum RedisArgument: Sendable, ExpressibleByStringLiteral {
    case text(String)
    case bytes(ByteBuffer)
    /// One value sent from several buffers, without joining them first.
    case parts([ByteBuffer])

    public init(stringLiteral value: String) { self = .text(value) }
}

extension ByteBuffer {
    /// A command in RESP framing, written straight into the buffer (large values are
    /// not copied into an intermediate C string).
    mutating func writeRedisCommand(_ arguments: [RedisArgument]) {
        writeStaticString("*")
        writeDecimal(arguments.count)
        writeStaticString("\r\n")
        for argument in arguments {
            switch argument {
            case .text(let s):
                writeStaticString("$")
                writeDecimal(s.utf8.count)
                writeStaticString("\r\n")
                writeString(s)
            case .bytes(let b):
                writeStaticString("$")
                writeDecimal(b.readableBytes)
                writeStaticString("\r\n")
                writeImmutableBuffer(b)
            case .parts(let parts):
                writeStaticString("$")
                writeDecimal(parts.reduce(0) { $0 + $1.readableBytes })
                writeStaticString("\r\n")
                for p in parts { writeImmutableBuffer(p) }
            }
            writeStaticString("\r\n")
        }
    }
}
