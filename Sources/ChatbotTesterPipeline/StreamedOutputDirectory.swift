import ChatbotTesterCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The private directory a `test` writes its outputs into while the run plays — one process's
/// (`StreamedTestOutput`) or a sharded run's coordinator's (`StreamedClusterOutput`) — and moves
/// into the output directory only once every record was written.
public enum StreamedOutputDirectory {
    /// Its name inside the output directory (one name for both modes: either clears what a crash
    /// of the other left).
    public static let name = ".streamed-output"

    /// The most records that may wait for an earlier one in a run of `concurrency` before the
    /// streamed output gives up: many times the records in flight (a few MB at most).
    public static func waitingLimit(concurrency: Int) -> Int {
        1024 + 32 * max(1, concurrency)
    }

    /// Creates the private directory in `outputDirectory`, fresh (a leftover one is removed first).
    public static func create(in outputDirectory: URL) throws -> URL {
        let directory = outputDirectory.appendingPathComponent(name, isDirectory: true)
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Removes the private directory a crashed session may have left in `outputDirectory`.
    public static func removeLeftover(in outputDirectory: URL) {
        try? FileManager.default.removeItem(at: outputDirectory.appendingPathComponent(name, isDirectory: true))
    }

    /// Moves every file of `directory` into `target` (`rename`, replacing what is there), then
    /// removes `directory`.
    /// - Throws: `.io` naming the file that could not be moved.
    public static func moveFiles(of directory: URL, into target: URL) throws {
        let manager = FileManager.default
        for file in try manager.contentsOfDirectory(atPath: directory.path) {
            let from = directory.appendingPathComponent(file).path
            let to = target.appendingPathComponent(file).path
            guard rename(from, to) == 0 else {
                throw ChatbotTesterError(.io, "cannot move \(from) to \(to): \(String(cString: strerror(errno)))", location: SourceLocation(source: to))
            }
        }
        try? manager.removeItem(at: directory)
    }
}
