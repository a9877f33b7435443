import ChatbotTesterCore
import Foundation

/// Waits for a child started with Foundation's `Process` (a test that signals or kills it
/// mid-run) by reaping it with Core's `ProcessRunner.reap`, which uses `waitpid`.
///
/// `Process.waitUntilExit()` learns of an exit from a SIGCHLD dispatch source. A libuv loop that
/// spawns processes in the same test process (the cluster tests) installs its own SIGCHLD handler,
/// and a child that exits meanwhile stays a zombie that Foundation never notices: the wait spins
/// forever. `waitpid` cannot miss it. A child run to completion needs none of this:
/// `ProcessRunner.run` spawns and reaps it itself.
public enum ChildExit {
    /// Blocks until `process` has exited; its exit status, or the number of the signal that ended it
    /// (as `Process.terminationStatus` reports).
    /// Call it off the Swift concurrency pool (a Dispatch or detached thread) when the child may run long.
    public static func wait(for process: Process) -> Int32 {
        if let end = ProcessRunner.reap(process.processIdentifier) { return end.status }
        // Foundation reaped it first (ECHILD): it knows the status.
        process.waitUntilExit()
        return process.terminationStatus
    }
}
