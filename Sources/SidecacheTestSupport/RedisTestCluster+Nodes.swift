import Foundation

/// Reading `CLUSTER NODES` and `CLUSTER INFO` as redis-cli prints them.
extension RedisTestCluster {
    /// One line of CLUSTER NODES:
    /// `<id> <ip:port@cport[,hostname]> <flags> <master|-> <ping-sent> <pong-recv> <epoch> <link> <slot>...`
    struct Entry: Equatable {
        var id: String
        var port: Int
        var flags: [String]
        /// Ranges of owned slots; the `[slot->-id]` / `[slot-<-id]` migration marks are left out.
        var slots: [ClosedRange<Int>]

        var isMyself: Bool { flags.contains("myself") }
        var isMaster: Bool {
            flags.contains("master") && !flags.contains("fail") && !flags.contains("handshake") && !flags.contains("noaddr")
        }
    }

    static func parseNodes(_ text: String) -> [Entry] {
        // Not split(separator: "\n"): in a Swift String "\r\n" is one Character.
        text.split(whereSeparator: \.isNewline).compactMap { line -> Entry? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 8 else { return nil }
            let address = fields[1].prefix(while: { $0 != "@" && $0 != "," })
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { return nil }
            let slots = fields.dropFirst(8).compactMap { field -> ClosedRange<Int>? in
                guard !field.hasPrefix("[") else { return nil }
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                switch bounds.count {
                case 1: return bounds[0]...bounds[0]
                case 2 where bounds[0] <= bounds[1]: return bounds[0]...bounds[1]
                default: return nil
                }
            }
            return Entry(id: fields[0], port: port, flags: fields[2].split(separator: ",").map(String.init),
                         slots: slots.sorted { $0.lowerBound < $1.lowerBound })
        }
    }

    /// The value of `name:` in INFO-style text (CLUSTER INFO, INFO replication).
    static func field(_ name: String, in text: String) -> String? {
        for line in text.split(whereSeparator: \.isNewline) {
            let line = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix(name + ":") { return String(line.dropFirst(name.count + 1)) }
        }
        return nil
    }
}
