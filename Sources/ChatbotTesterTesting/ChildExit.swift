import ChatbotTesterCore
import Foundation

/// Waits for a child started with Foundation's `Process` (a test that signals or kills it
/// mid-run) by reaping it with Core's `ProcessRunner.reap`, which uses `waitpid`.
///
/// `Process.waitUntilExit()` on Linux learns of an exit when a socket the child inherits closes,
/// and a process spawned meanwhile by a spawner that closes nothing (libuv's `uv_spawn`, as the
/// coordinator once did) keeps that socket open: the wait spins until that other process exits, and
/// the exited child stays a zombie. `waitpid` on the child's pid cannot miss the exit. A child run
/// to completion needs none of this: `ProcessRunner.run` spawns and reaps it itself.
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
