import Foundation

extension RunRecord {
    /// The record with every secret `masker` knows replaced in the text a server or a backend
    /// produced: replies, tool-call arguments and tool results, retrieved contexts, the final
    /// output, the error and the stop reason. Every other member of a message is kept.
    public func masked(by masker: SecretMasker = .shared) -> RunRecord {
        guard !masker.isEmpty else { return self }
        var copy = self
        copy.transcript = transcript.map { message in
            var masked = message
            masked.content = masker.mask(message.content)
            masked.toolCalls = message.toolCalls.map { $0.map { $0.masked(by: masker) } }
            return masked
        }
        copy.turns = turns.map { turn in
            var masked = turn
            masked.toolCalls = turn.toolCalls.map { $0.map { $0.masked(by: masker) } }
            masked.retrievedContexts = turn.retrievedContexts.map { $0.map { masker.mask($0) } }
            return masked
        }
        copy.output = masker.mask(output)
        copy.stopReason = masker.mask(stopReason)
        copy.error = error.map { ErrorInfo(code: $0.code, message: masker.mask($0.message), status: $0.status) }
        return copy
    }
}

extension ToolCall {
    /// The call with every secret `masker` knows replaced in its arguments.
    func masked(by masker: SecretMasker) -> ToolCall {
        var copy = self
        copy.arguments = masker.mask(arguments)
        return copy
    }
}

extension EvalRecord {
    /// The record with every secret `masker` knows replaced in its reason and details (a judge's
    /// words, an error).
    public func masked(by masker: SecretMasker = .shared) -> EvalRecord {
        guard !masker.isEmpty else { return self }
        var copy = self
        copy.reason = masker.mask(reason)
        copy.details = details.map { masker.mask(JSONValue.object($0)).objectValue ?? $0 }
        return copy
    }
}
