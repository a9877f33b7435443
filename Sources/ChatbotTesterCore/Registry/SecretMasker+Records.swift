import Foundation

extension RunRecord {
    /// The record with every secret `masker` knows replaced in the text a server or a backend
    /// produced: replies, tool calls and results, retrieved contexts, the final output, the error
    /// and the stop reason. Everything else of a message (its role, tool call ids) is kept.
    public func masked(by masker: SecretMasker = .shared) -> RunRecord {
        guard !masker.isEmpty else { return self }
        var copy = self
        copy.transcript = transcript.map { message in
            var message = message
            message.content = masker.mask(message.content)
            message.toolCalls = message.toolCalls.map { $0.map { $0.masked(by: masker) } }
            return message
        }
        copy.turns = turns.map { turn in
            var turn = turn
            turn.toolCalls = turn.toolCalls.map { $0.map { $0.masked(by: masker) } }
            turn.retrievedContexts = turn.retrievedContexts.map { $0.map { (text: String) -> String in masker.mask(text) } }
            return turn
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
