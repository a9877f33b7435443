import ChatbotTesterCore

/// Sampling options configured on a backend instance; a request's own values win.
struct SamplingDefaults: Sendable, Hashable {
    var temperature: Double?
    var maxTokens: Int?
    var topP: Double?
    var stop: [String]?
    var seed: Int?

    init(_ options: ComponentOptions) throws {
        temperature = try options.double("temperature")
        maxTokens = try options.int("maxTokens")
        topP = try options.double("topP")
        stop = try options.strings("stop")
        seed = try options.int("seed")
    }

    /// The request with unset sampling fields filled from the defaults.
    func apply(to request: ChatRequest) -> ChatRequest {
        var request = request
        request.temperature = request.temperature ?? temperature
        request.maxTokens = request.maxTokens ?? maxTokens
        request.topP = request.topP ?? topP
        request.stop = request.stop ?? stop
        request.seed = request.seed ?? seed
        return request
    }

    /// The documented sampling options.
    static func optionSpecs(maxTokensDefault: String? = nil) -> [OptionSpec] {
        [
            OptionSpec("temperature", .number, "sampling temperature, when the request sets none"),
            OptionSpec("maxTokens", .integer, default: maxTokensDefault, "reply token limit, when the request sets none"),
            OptionSpec("topP", .number, "nucleus sampling, when the request sets none"),
            OptionSpec("stop", .array, "stop sequences, when the request sets none"),
            OptionSpec("seed", .integer, "sampling seed, when the request sets none"),
        ]
    }
}
