import Foundation

extension ArtifactStore {
    /// Writes `value` as JSON (sorted keys, ISO-8601 dates) under `key`, atomically.
    public func writeJSON<T: Encodable>(_ value: T, to key: String, pretty: Bool = true) async throws {
        let data: Data
        do {
            data = try JSONCoding.encoder(pretty: pretty).encode(value)
        } catch {
            throw ChatbotTesterError(.internal, "cannot encode \(key)", location: SourceLocation(source: key), cause: error)
        }
        try await write(data, to: key)
    }

    /// Reads and decodes the JSON artifact under `key`; errors name the key and field.
    public func readJSON<T: Decodable>(_ type: T.Type, from key: String) async throws -> T {
        let data = try await read(key)
        do {
            return try JSONCoding.decoder().decode(T.self, from: data)
        } catch {
            throw ChatbotTesterError.decoding(error, source: key, line: nil)
        }
    }

    /// Streams the JSONL artifact under `key` decoded line by line; a bad line is a failure naming
    /// key, line and field, and later lines keep streaming. A torn last line is skipped.
    public func decodeLines<T: Decodable & Sendable>(
        _ type: T.Type, of key: String
    ) -> AsyncThrowingStream<JSONLEntry<T>, any Error> {
        let raw = lines(of: key)
        return AsyncThrowingStream { continuation in
            let task = Task {
                let decoder = JSONCoding.decoder()
                do {
                    for try await (line, text) in raw {
                        let result = JSONL.decode(T.self, from: Data(text.utf8), source: key, line: line, decoder: decoder)
                        continuation.yield(JSONLEntry(line: line, result: result))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
