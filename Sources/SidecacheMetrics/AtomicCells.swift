import Synchronization

/// A fixed number of integer counters in one allocation. The hit path adds to one
/// with a single relaxed atomic add: no lock, no allocation. Readers (scrapes, /stats)
/// load them one by one, so a report is a near-instant view, not a transaction.
final class AtomicCells: @unchecked Sendable {
    // @unchecked: the pointer is allocated once, never reassigned, and every access to
    // what it points at is atomic.
    private let cells: UnsafeMutablePointer<Atomic<Int>>
    let count: Int

    init(count: Int) {
        self.count = count
        cells = .allocate(capacity: count)
        for i in 0..<count { (cells + i).initialize(to: Atomic(0)) }
    }

    deinit {
        cells.deinitialize(count: count)
        cells.deallocate()
    }

    @inline(__always)
    func add(_ index: Int, _ amount: Int = 1) {
        cells[index].wrappingAdd(amount, ordering: .relaxed)
    }

    func load(_ index: Int) -> Int { cells[index].load(ordering: .relaxed) }

    /// The sum of `count` cells from `start`.
    func sum(from start: Int, count: Int) -> Int {
        var total = 0
        for i in start..<(start + count) { total &+= load(i) }
        return total
    }

    func values(from start: Int, count: Int) -> [Int] { (start..<(start + count)).map(load) }
}
