import Glibc

/// One object per thread, made on the thread's first use and released when the thread
/// ends: NIO's `ThreadSpecificVariable` without its boxing. That one keeps the object in
/// a box and casts it back (`as!`) on every read; here the key holds the object itself,
/// retained once, and a read is one `pthread_getspecific` (a cache hit reads two: 69
/// instructions fewer, BENCHMARKS.md, issue 13).
final class ThreadSlot<Value: AnyObject>: Sendable {
    private let key: pthread_key_t

    /// Slots live as long as the process (`static let`): the key is never deleted.
    init() {
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { object in
            if let object { Unmanaged<AnyObject>.fromOpaque(object).release() }
        }
        precondition(created == 0, "pthread_key_create: \(created)")
        self.key = key
    }

    /// This thread's object; `make` makes it on the thread's first call.
    func value(orMake make: () throws -> Value) rethrows -> Value {
        if let kept = pthread_getspecific(key) { return Unmanaged<Value>.fromOpaque(kept).takeUnretainedValue() }
        let made = try make()
        pthread_setspecific(key, Unmanaged.passRetained(made).toOpaque())
        return made
    }
}
