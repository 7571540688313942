import NIOCore
import NIOHTTP1

/// The parts of pipelined requests waiting for their turn on one connection, bounded by
/// requests. One read takes in up to 16 × 64 KiB, all of it parsed at once: without a
/// bound, tiny requests behind one slow answer made about 5 MB of queued heads per
/// connection, and a few hundred connections took the process past a gigabyte.
struct PipelinedRequests {
    static let maxRequests = 32

    private var parts = CircularBuffer<HTTPServerRequestPart>()
    /// Request heads among `parts`: counted here, so every way in and out keeps it.
    private var heads = 0

    var isEmpty: Bool { parts.isEmpty }

    /// False, and nothing queued, for a head past `maxRequests`.
    mutating func append(_ part: HTTPServerRequestPart) -> Bool {
        if case .head = part {
            guard heads < Self.maxRequests else { return false }
            heads += 1
        }
        parts.append(part)
        return true
    }

    mutating func removeFirst() -> HTTPServerRequestPart {
        let part = parts.removeFirst()
        if case .head = part { heads -= 1 }
        return part
    }

    mutating func removeAll() {
        parts.removeAll()
        heads = 0
    }
}
