import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Waits for a child started with Foundation's `Process` by reaping it with `waitpid`.
///
/// `Process.waitUntilExit()` learns of an exit from a SIGCHLD dispatch source. A libuv loop that
/// spawns processes in the same test process (the cluster tests) installs its own SIGCHLD handler,
/// and a child that exits meanwhile stays a zombie that Foundation never notices: the wait spins
/// forever. `waitpid` cannot miss it.
public enum ChildExit {
    /// Blocks until `process` has exited; its exit status, or the number of the signal that ended it
    /// (as `Process.terminationStatus` reports).
    /// Call it off the Swift concurrency pool (a Dispatch or detached thread) when the child may run long.
    public static func wait(for process: Process) -> Int32 {
        var status: Int32 = 0
        while true {
            let result = waitpid(process.processIdentifier, &status, 0)
            if result == process.processIdentifier { break }
            if result == -1, errno == EINTR { continue }
            // Foundation reaped it first (ECHILD): it knows the status.
            process.waitUntilExit()
            return process.terminationStatus
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }
}
