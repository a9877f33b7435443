import ChatbotTesterCore
import Foundation

extension TestJob {
    /// Runs `body` holding the output directory's lock (`OutputDirectoryLock`): one run per output
    /// directory at a time. `test(stage:)`, `runOnly(stage:)`, `run(dataset:)` and the CLI's `test`,
    /// `run` and `coordinator` take it; nested calls in one task tree take it once. A remote output
    /// (`--out s3://…`) is locked in the store too (``RemoteOutputLock``: a lease taken with the
    /// store's conditional create), so two runs on different hosts are refused as well.
    ///
    /// - Throws: `.busy` naming the other run's pid, host and command when another run holds it;
    ///   what `body` throws.
    public func withOutputLock<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        guard let remote else { return try await OutputDirectoryLock.withLock(outputDirectory, isolation: isolation, body) }
        return try await RemoteOutputLock.withLock(store: remote.store, url: remote.url, isolation: isolation) {
            try await OutputDirectoryLock.withLock(outputDirectory, isolation: isolation, body)
        }
    }
}
