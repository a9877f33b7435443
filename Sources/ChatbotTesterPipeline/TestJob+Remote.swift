import ChatbotTesterCore
import Foundation

/// Remote inputs and outputs (`s3://…` datasets and `--out`): local copies of inputs, the journal
/// mirror and the publishing of a staged output (see ``RemoteOutput``).
extension TestJob {
    /// Where the local copy of a remote `dataset:` goes.
    var remoteDatasetCopy: URL { output(".inputs/dataset.jsonl") }

    /// Copies a remote `dataset:` (`s3://bucket/cases.jsonl`) into the output directory's
    /// `.inputs/`, streamed by ranged reads (never the whole object in memory). Once per job;
    /// nothing to do for a local dataset. `test` and `run` call it; call it before
    /// ``digests()`` or ``claimOutput(overwrite:)`` otherwise.
    public func fetchInputs() async throws {
        guard generateSpec == nil, let dataset = config.dataset, RemoteLocation.isRemote(dataset.path) else { return }
        let copy = remoteDatasetCopy
        if inputCopies.withLock({ $0[copy.path] != nil }) { return }
        do {
            try await RemoteLocation.download(dataset.path, opener: components.stores, to: copy)
        } catch {
            throw config.document.locate(Self.field(error, "dataset"))
        }
        inputCopies.withLock { $0[copy.path] = dataset.path }
    }

    /// Copies the remote object `url` (`s3://bucket/run/results.jsonl`) into `.inputs/<name>` of
    /// the output directory and returns the copy; errors about the copy name `url`.
    public func fetch(_ url: String, as name: String) async throws -> URL {
        let copy = output(".inputs/\(name)")
        try await RemoteLocation.download(url, opener: components.stores, to: copy)
        inputCopies.withLock { $0[copy.path] = url }
        return copy
    }

    /// `error` naming the remote URL instead of the local copy it mentions.
    func relabelInputs(_ error: any Error) -> any Error {
        inputCopies.withLock { $0 }.reduce(error) { error, copy in
            RemoteLocation.relabel(error, local: URL(fileURLWithPath: copy.key), as: copy.value)
        }
    }

    /// The output's location for people: the `s3://` URL of a remote output, else the directory.
    public var outputLocation: String { remote?.url ?? outputDirectory.path }

    /// Uploads the staged outputs (or only `names`) to the remote output; nothing for a local one.
    public func publishOutputs(only names: [String]? = nil) async throws {
        try await remote?.publish(only: names)
    }

    /// Removes the staging directory of a remote output, or the local copies of remote inputs in
    /// a local one. Call when the command is done with the job.
    public func discardLocalCopies() {
        if let remote {
            remote.discardStaging()
        } else {
            try? FileManager.default.removeItem(at: output(".inputs"))
        }
    }

    /// Runs `body` (a run that writes outputs) with a remote output kept up to date: `job.json`
    /// uploaded first, the journal restored from the store (`resume`) or cleared there, mirrored
    /// while `body` runs, and every output published when it returns.
    ///
    /// What an earlier run left for a resume is settled first (`prepareRunState(for:)`: cleared for
    /// a fresh run, taken over from the other way for a resume played the other way) — for a
    /// remote output once its journals are restored and before they are mirrored: a journal taken
    /// over is stored whole under its new key, and the other way's is then dropped from the store.
    func withRemoteOutput<T>(stage: any JobRunStage, _ body: () async throws -> T) async throws -> T {
        try await fetchInputs()
        guard let remote else {
            try await prepareRunState(for: stage)
            return try await body()
        }
        try writeJobRecord()
        try await remote.publish(only: ["job.json"])
        try await remote.prepareJournal(resume: settings.resume)
        if let other = try await prepareRunState(for: stage) { try await remote.storeJournalTakenOver(from: other) }
        let mirrors = remote.journalMirrors()
        for mirror in mirrors { try await mirror.start() }
        let value: T
        do {
            value = try await body()
        } catch {
            for mirror in mirrors { try? await mirror.stop() }
            throw error
        }
        // Publish from a fresh task: an interrupted run's outputs are published too.
        _ = try await Task {
            for mirror in mirrors { try await mirror.stop() }
            return try await remote.publish()
        }.value
        return value
    }
}
