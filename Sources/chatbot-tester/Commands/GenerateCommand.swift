import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester generate CONFIG -o dataset.jsonl`: writes the config's generated cases.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate test cases from a config's `generate:` section into a JSONL dataset."
    )

    @Argument(help: "The job config (YAML or JSON) with a `generate:` section.") var config: String
    @Option(name: [.short, .customLong("output")], help: "The dataset to write: a path or s3://bucket/key.") var output: String = "dataset.jsonl"
    @Flag(help: "Keep an existing file and add only what is missing (ids already there are skipped).") var resume = false
    @Flag(help: "No progress display on standard error.") var noProgress = false

    func run() async throws {
        try await withExitCodes {
            let events = CommandEvents()
            events.showProgress(!noProgress)
            let loaded = try JobConfig.load(contentsOf: URL(fileURLWithPath: config))
            guard let value = loaded.document.value["generate"], !value.isNull else {
                await events.finish()
                throw ChatbotTesterError(.invalidConfig, "the config has no 'generate' section", location: SourceLocation(source: config))
            }
            let spec: GenerateSpec
            do {
                spec = try GenerateSpec.decode(value, field: "generate", source: loaded.document.source)
            } catch {
                await events.finish()
                throw loaded.document.locate(error)
            }
            let components = PipelineComponents.builtin()
            let backends = BackendSet(
                config: loaded.backends, registry: components.backends, events: events.bus, wrapper: components.middleware)
            // A remote dataset is generated into a private local file, then uploaded (resumed
            // from the store's copy with --resume).
            var url = URL(fileURLWithPath: output)
            var upload: (store: any ArtifactStore, key: String)?
            var scratch: URL?
            defer { if let scratch { try? FileManager.default.removeItem(at: scratch) } }
            let report: GenerationReport
            do {
                if RemoteLocation.isRemote(output) {
                    let (storeURL, key) = try RemoteLocation.splitObject(output)
                    let store = try RemoteLocation.open(storeURL, opener: components.stores)
                    let directory = try PrivateDirectory.makeFresh(prefix: "chatbot-tester-generate")
                    scratch = directory
                    url = directory.appendingPathComponent(URL(fileURLWithPath: key).lastPathComponent)
                    if resume, await store.exists(key) { try await RemoteLocation.download(key, from: store, to: url) }
                    upload = (store, key)
                }
                try await backends.validate()
                let target = url
                report = try await withInterruptCancellation {
                    try await Generator(spec: spec, backends: backends, events: events.bus, baseDirectory: loaded.baseDirectory)
                        .write(to: target, resume: resume)
                }
                if let upload { try await upload.store.write(contentsOf: url, to: upload.key) }
            } catch {
                await events.finish()
                throw loaded.document.locate(error)
            }
            await events.finish()
            var outcome = JobOutcome(outputDirectory: url.deletingLastPathComponent())
            if upload != nil { outcome.location = try RemoteLocation.splitObject(output).store }
            outcome.generation = report
            print(SummaryTable.render(outcome).replacingOccurrences(of: "/report.html", with: "/\(url.lastPathComponent)"))
            for (reason, count) in report.dropped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                print("  dropped \(count): \(reason.rawValue)")
            }
            return ExitStatus.ok
        }
    }
}
