import SidecacheCore

/// Which master of a Redis Cluster owns each hash slot, as one node described it
/// (`CLUSTER SHARDS`, or `CLUSTER SLOTS` on servers before 7). A value: a new map
/// replaces the old one whole.
struct ClusterMap: Sendable, Equatable {
    struct Master: Sendable, Equatable, Hashable {
        var host: String
        var port: Int
        /// Replicas reported online: a purge waits until that many have it.
        var replicas: Int

        var address: String { "\(host):\(port)" }
    }

    let masters: [Master]
    /// The replicas' addresses: nodes to ask for the next map besides the masters, since
    /// when every master the seeds name has failed over, only they are left to answer.
    let replicas: [RedisEndpoint.Node]
    /// Per slot: the index of its master in `masters`, or -1 when no master serves it.
    let owners: [Int16]

    init(masters: [Master], replicas: [RedisEndpoint.Node] = [], ranges: [(slots: ClosedRange<Int>, master: Int)]) {
        self.masters = masters
        self.replicas = replicas
        var owners = [Int16](repeating: -1, count: RedisSlot.count)
        // A reply naming more masters than an Int16 counts leaves the rest unserved.
        for (slots, master) in ranges where slots.lowerBound >= 0 && slots.upperBound < RedisSlot.count {
            guard let owner = Int16(exactly: master) else { continue }
            for slot in slots { owners[slot] = owner }
        }
        self.owners = owners
    }

    /// The same cluster, in whatever order the server listed it: every slot served by the
    /// same master (by address, with as many replicas online), the same masters and the
    /// same replicas. Redis lists shards in no fixed order, and a map that only moved
    /// them was installed again and logged every 5 s (the session's second review).
    static func == (a: ClusterMap, b: ClusterMap) -> Bool {
        guard a.masters.count == b.masters.count, Set(a.masters) == Set(b.masters),
              a.replicas.count == b.replicas.count,
              Set(a.replicas.map { "\($0.host):\($0.port)" }) == Set(b.replicas.map { "\($0.host):\($0.port)" }) else { return false }
        return zip(a.owners, b.owners).allSatisfy { x, y in
            x < 0 ? y < 0 : y >= 0 && a.masters[Int(x)] == b.masters[Int(y)]
        }
    }

    /// The index of `slot`'s master, if any serves it.
    func owner(of slot: Int) -> Int? {
        let i = owners[slot]
        return i < 0 ? nil : Int(i)
    }

    /// Every slot has a master.
    var isComplete: Bool { !owners.contains(-1) }

    /// `CLUSTER SHARDS` (Redis 7): per shard `slots` (start, end pairs) and `nodes`, each
    /// node a flat list of field names and values. A node that gives no address is at
    /// `askedHost` (the node asked). `tls`: the node's `tls-port` is the one to use.
    static func fromShards(_ reply: RedisValue, askedHost: String, tls: Bool) -> ClusterMap? {
        guard let shards = reply.array else { return nil }
        var masters: [Master] = []
        var replicaNodes: [RedisEndpoint.Node] = []
        var ranges: [(slots: ClosedRange<Int>, master: Int)] = []
        for shard in shards {
            guard let fields = shard.array.map(Self.fields) else { return nil }
            guard let slotList = fields["slots"]?.array, let nodes = fields["nodes"]?.array else { return nil }
            let described = nodes.compactMap { $0.array.map(Self.fields) }
            guard let primary = described.first(where: { $0["role"]?.text == "master" && $0["health"]?.text != "fail" }) else {
                continue   // a shard with no live master serves nothing now
            }
            let port = (tls ? primary["tls-port"] : nil)?.integer ?? primary["port"]?.integer
            guard let port else { return nil }
            let replicas = described.filter { $0["role"]?.text == "replica" && $0["health"]?.text == "online" }.count
            for replica in described where replica["role"]?.text == "replica" && replica["health"]?.text != "fail" {
                guard let port = (tls ? replica["tls-port"] : nil)?.integer ?? replica["port"]?.integer, port > 0 else { continue }
                replicaNodes.append(RedisEndpoint.Node(host: Self.host(replica["endpoint"]?.text ?? replica["ip"]?.text, or: askedHost),
                                                       port: Int(port)))
            }
            masters.append(Master(host: Self.host(primary["endpoint"]?.text ?? primary["ip"]?.text, or: askedHost),
                                  port: Int(port), replicas: replicas))
            var i = 0
            while i + 1 < slotList.count {
                guard let start = slotList[i].integer, let end = slotList[i + 1].integer, start <= end else { return nil }
                ranges.append((Int(start)...Int(end), masters.count - 1))
                i += 2
            }
        }
        return ClusterMap(masters: masters, replicas: replicaNodes, ranges: ranges)
    }

    /// `CLUSTER SLOTS`: per range `start, end, [host, port, id, …]` for the master, then
    /// one such list per replica.
    static func fromSlots(_ reply: RedisValue, askedHost: String) -> ClusterMap? {
        guard let rows = reply.array else { return nil }
        var masters: [Master] = []
        var replicaNodes: [RedisEndpoint.Node] = []
        var indexes: [String: Int] = [:]
        var ranges: [(slots: ClosedRange<Int>, master: Int)] = []
        for row in rows {
            guard let row = row.array, row.count >= 3, let start = row[0].integer, let end = row[1].integer, start <= end,
                  let node = row[2].array, node.count >= 2, let port = node[1].integer else { return nil }
            let master = Master(host: Self.host(node[0].text, or: askedHost), port: Int(port), replicas: row.count - 3)
            let index = indexes[master.address] ?? {
                masters.append(master)
                indexes[master.address] = masters.count - 1
                return masters.count - 1
            }()
            ranges.append((Int(start)...Int(end), index))
            for replica in row.dropFirst(3) {
                guard let node = replica.array, node.count >= 2, let port = node[1].integer, port > 0 else { continue }
                let address = RedisEndpoint.Node(host: Self.host(node[0].text, or: askedHost), port: Int(port))
                if !replicaNodes.contains(address) { replicaNodes.append(address) }
            }
        }
        return ClusterMap(masters: masters, replicas: replicaNodes, ranges: ranges)
    }

    /// A node's announced address; `?` or empty means "the one you asked".
    private static func host(_ announced: String?, or asked: String) -> String {
        guard let announced, !announced.isEmpty, announced != "?" else { return asked }
        return announced
    }

    /// `[name, value, name, value, …]` as a dictionary.
    private static func fields(_ list: [RedisValue]) -> [String: RedisValue] {
        var fields: [String: RedisValue] = [:]
        var i = 0
        while i + 1 < list.count {
            if let name = list[i].text { fields[name] = list[i + 1] }
            i += 2
        }
        return fields
    }
}

/// What a cluster node answers instead of running a command that is not its to run.
enum ClusterRedirect: Equatable {
    /// The slot lives elsewhere now (`MOVED slot host:port`): the map is stale.
    case moved(host: String, port: Int)
    /// The slot is being migrated and this key is already at `host:port` (`ASK`): send
    /// it there once, after `ASKING`.
    case ask(host: String, port: Int)
    /// A multi-key command during a migration whose keys are split between the two nodes.
    case tryAgain
    /// The cluster cannot serve the slot now (a failover in progress).
    case down

    /// The redirect in `reply`, if it is one; an empty host means the node that answered.
    init?(_ reply: RedisValue, answeredBy host: String) {
        guard case .error(let message) = reply else { return nil }
        if message.hasPrefix("TRYAGAIN") { self = .tryAgain; return }
        if message.hasPrefix("CLUSTERDOWN") { self = .down; return }
        let words = message.split(separator: " ")
        guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let colon = words[2].lastIndex(of: ":"),
              let port = Int(words[2][words[2].index(after: colon)...]) else { return nil }
        let named = String(words[2][..<colon])
        let target = named.isEmpty ? host : named
        self = words[0] == "MOVED" ? .moved(host: target, port: port) : .ask(host: target, port: port)
    }
}
