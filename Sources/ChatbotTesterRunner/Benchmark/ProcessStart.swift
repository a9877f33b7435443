import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How long ago this process started, from the kernel's record of it (Linux: `/proc/self/stat`'s
/// start time, in clock ticks since boot, against `CLOCK_BOOTTIME`); `nil` elsewhere. Includes
/// everything before `main` (exec, loading and linking the binary), which a clock read in `main`
/// misses. The start time is rounded down to a tick (10 ms on most systems), so the figure may be up
/// to one tick too long, never too short.
public enum ProcessStart {
    public static var elapsedSeconds: Double? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8) else { return nil }
        return elapsed(stat: text, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), bootSeconds: bootSeconds())
        #else
        return nil
        #endif
    }

    /// The seconds between the start time in `stat` (a `/proc/<pid>/stat` line) and `bootSeconds`.
    static func elapsed(stat: String, ticksPerSecond: Double, bootSeconds: Double) -> Double? {
        // The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
        guard ticksPerSecond > 0, let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Field 22 (starttime) is the 20th after the name: state is field 3.
        guard fields.count >= 20, let ticks = Double(fields[19]) else { return nil }
        return max(0, bootSeconds - ticks / ticksPerSecond)
    }

    /// `CLOCK_MONOTONIC` now, in seconds (the clock Python's `time.monotonic()` reads on Linux);
    /// `nil` elsewhere.
    public static var monotonicSeconds: Double? {
        #if os(Linux)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        #else
        return nil
        #endif
    }

    #if os(Linux)
    private static func bootSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
    #endif
}
