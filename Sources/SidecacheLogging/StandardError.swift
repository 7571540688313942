import Glibc
import Synchronization

/// Where the executable's log lines go: standard error, one caller at a time, so lines
/// from different threads never interleave (JSON lines and access-log lines alike).
public enum StandardError {
    private static let lock = Mutex(())

    /// `bytes` (whole lines) with write(2) until done or the descriptor fails: a closed
    /// stderr must not stop the proxy.
    public static func write(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(2, base + offset, bytes.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}
