import ChatbotTesterCore

/// How a judge is asked to answer and how its reply is read.
///
/// `LLMJudge.scoreFormat` is the `{score, reason}` verdict on the judge's scale (the rubric judges);
/// `JudgeItemVerdicts.format(…)` asks for one yes/no verdict per numbered item (the RAG metrics).
/// Whatever the format, `LLMJudge` votes, repairs, retries once with the failure as a hint, and
/// records an unreadable reply as unmeasured.
public struct JudgeAnswerFormat: Sendable {
    /// The response-format name sent with the JSON schema.
    public var schemaName: String
    /// The JSON schema of the answer, sent as the response format when `structuredOutput` is on.
    public var schema: JSONValue
    /// Appended to the judge's system prompt: how to answer.
    public var instruction: String
    /// Sent after a failure message when the first answer could not be read.
    public var retryHint: String
    /// The range of the raw scores `read` returns; normalised to [0, 1].
    public var scale: JudgeScale
    /// Reads one reply into a verdict, or says why it cannot.
    public var read: @Sendable (String) -> Result<JudgeVerdict, JudgeVerdictParser.Failure>

    public init(
        schemaName: String, schema: JSONValue, instruction: String, retryHint: String, scale: JudgeScale,
        read: @escaping @Sendable (String) -> Result<JudgeVerdict, JudgeVerdictParser.Failure>
    ) {
        self.schemaName = schemaName
        self.schema = schema
        self.instruction = instruction
        self.retryHint = retryHint
        self.scale = scale
        self.read = read
    }
}
