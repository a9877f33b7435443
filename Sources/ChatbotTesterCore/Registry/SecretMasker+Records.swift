import Foundation

extension RunRecord {
    /// The record with every secret `masker` knows replaced in the text a server or a backend
    /// produced: replies, the final output, the error and the stop reason.
    public func masked(by masker: SecretMasker = .shared) -> RunRecord {
        guard !masker.isEmpty else { return self }
        var copy = self
        copy.transcript = transcript.map { Message(role: $0.role, content: masker.mask($0.content)) }
        copy.output = masker.mask(output)
        copy.stopReason = masker.mask(stopReason)
        copy.error = error.map { ErrorInfo(code: $0.code, message: masker.mask($0.message), status: $0.status) }
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
