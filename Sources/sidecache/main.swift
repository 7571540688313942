import Dispatch

// The entry point is synchronous on purpose. Swift's async `@main` parks the main thread
// in `dispatch_main`, which on Linux calls `pthread_exit` and traps the thread in
// `sigsuspend` from a TLS destructor; valgrind 3.19 dies on that (an internal SIGSEGV),
// and callgrind's instruction counts per request are the repeatable witness of
// BENCHMARKS.md. The command runs on a detached task instead and the main thread waits
// for it. Nothing in the process uses the main actor, so nothing waits on this thread.
let commandFinished = DispatchSemaphore(value: 0)
Task.detached {
    await Sidecache.main()
    commandFinished.signal()
}
commandFinished.wait()
