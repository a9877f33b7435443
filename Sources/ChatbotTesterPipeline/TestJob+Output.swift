import ChatbotTesterCore
import Foundation

/// The output-directory contract: a job's run is replaced only by the same job (same config and
/// dataset digests, recorded in `job.json`), unless the user says `--overwrite`.
extension TestJob {
    /// SHA-256 digests naming this job: of its config as written (parsed before `${VAR}`
    /// expansion, keys sorted: a variable such as `MIN_PASS_RATE=1` tunes the same job) and of its
    /// dataset file (nil for generated cases, which the config already names, and for standard input).
    public func digests() throws -> (config: String, dataset: String?) {
        var hasher = SHA256Hasher()
        // The config as written (`${VAR}` unexpanded): the same job whatever the environment gives
        // its variables this time (a resume with a higher budget, a rotated key).
        hasher.update(try JSONCoding.encoder().encode(config.document.asWritten))
        let configDigest = hasher.finalizeHex()
        guard generateSpec == nil, let url = config.datasetURL(), !Self.isStream(url) else { return (configDigest, nil) }
        if let dataset = config.dataset, RemoteLocation.isRemote(dataset.path) {
            // The local copy `fetchInputs()` made.
            let copy = remoteDatasetCopy
            guard FileManager.default.fileExists(atPath: copy.path) else {
                throw ChatbotTesterError(.internal, "the remote dataset \(dataset.path) is not fetched yet (call fetchInputs() first)")
            }
            return (configDigest, try Self.fileDigest(copy))
        }
        return (configDigest, try Self.fileDigest(url))
    }

    /// The SHA-256 of a file, read in chunks.
    static func fileDigest(_ url: URL) throws -> String {
        let handle = try JSONL.openInput(url)
        defer { try? handle.close() }
        var hasher = SHA256Hasher()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return hasher.finalizeHex()
    }

    /// Refuses to write this job's run over another job's run in the output directory, unless
    /// `overwrite`. A directory without `job.json` (new, or not a run) and a run of the same job
    /// (same digests: the quickstart twice, the nightly unit) are fine.
    public func claimOutputDirectory(overwrite: Bool) throws {
        guard !overwrite else { return }
        let record = output("job.json")
        try checkClaim(recorded: try? Data(contentsOf: record), source: record.path)
    }

    /// ``claimOutputDirectory(overwrite:)`` for any output: for a remote one (`--out s3://…`) the
    /// store's `job.json` is compared. Call ``fetchInputs()`` first when the dataset is remote.
    public func claimOutput(overwrite: Bool) async throws {
        guard let remote else { return try claimOutputDirectory(overwrite: overwrite) }
        guard !overwrite else { return }
        let data = await remote.store.exists("job.json") ? try await remote.store.read("job.json") : nil
        try checkClaim(recorded: data, source: RemoteLocation.join(remote.url, "job.json"))
    }

    /// Refuses when `data` (a `job.json`) records another job.
    private func checkClaim(recorded data: Data?, source recordSource: String) throws {
        guard let data, let value = try? JSONCoding.decoder().decode(JSONValue.self, from: data),
            let recordedConfig = value["configDigest"]?.stringValue
        else { return }
        let mine = try digests()
        let recordedDataset = value["datasetDigest"]?.stringValue
        let sameDataset = recordedDataset == nil || mine.dataset == nil || recordedDataset == mine.dataset
        guard recordedConfig != mine.config || !sameDataset else { return }
        let what = recordedConfig != mine.config ? "a different config" : "a different dataset"
        let source = value["source"]?.stringValue.map { " (from \($0))" } ?? ""
        throw ChatbotTesterError(
            .invalidInput,
            "the output directory holds the run of another job\(source), with \(what): choose another --out, or pass --overwrite to replace it",
            location: SourceLocation(source: recordSource))
    }
}
