import ChatbotTesterCore
import Foundation

extension GenerateSpec {
    /// Decodes the `generate:` section from its JSON value (a YAML config converted to JSON).
    ///
    /// - Parameter field: the section's path in the config, prefixed to error fields.
    /// - Throws: `invalidConfig` naming the field, e.g. `generate.templates[0].template`.
    public static func decode(_ value: JSONValue, field: String = "generate", source: String? = nil) throws -> GenerateSpec {
        do {
            return try value.decode(GenerateSpec.self)
        } catch let error as DecodingError {
            let inner = error.fieldPath
            throw ChatbotTesterError(
                .invalidConfig, error.shortMessage,
                location: SourceLocation(source: source, field: inner.isEmpty ? field : "\(field).\(inner)"))
        }
    }

    /// Checks that every backend the spec names is configured and every document exists.
    ///
    /// - Parameters:
    ///   - backends: the job's `backends:` section.
    ///   - baseDirectory: where relative document paths start (the config file's directory).
    public func validate(backends: RegistryConfig, baseDirectory: URL? = nil, field: String = "generate") throws {
        for reference in backendReferences where backends[reference.name] == nil {
            throw ChatbotTesterError(
                .invalidConfig,
                "no backend named '\(reference.name)' (configured: \(backends.names.joined(separator: ", ")))",
                location: SourceLocation(field: "\(field).\(reference.field)"))
        }
        for (index, path) in (synthesize?.documents ?? []).enumerated() {
            let url = DocumentChunker.resolve(path, against: baseDirectory)
            if !FileManager.default.isReadableFile(atPath: url.path) {
                throw ChatbotTesterError(
                    .invalidConfig, "cannot read document \(url.path)",
                    location: SourceLocation(field: "\(field).synthesize.documents[\(index)]"))
            }
        }
    }
}
