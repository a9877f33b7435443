import ChatbotTesterCore
import Foundation

extension TestJob {
    /// Runs `body` holding the output directory's lock (`OutputDirectoryLock`): one run per output
    /// directory at a time. `test(stage:)`, `runOnly(stage:)`, `run(dataset:)` and the CLI's `test`,
    /// `run` and `coordinator` take it; nested calls in one task tree take it once.
    ///
    /// - Throws: `.busy` naming the other run's pid, host and command when another run holds it;
    ///   what `body` throws.
    public func withOutputLock<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        try await OutputDirectoryLock.withLock(outputDirectory, isolation: isolation, body)
    }
}
