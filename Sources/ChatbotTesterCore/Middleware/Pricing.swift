/// A model's price in US dollars per million tokens: the `pricing:` option.
///
/// ```yaml
/// pricing: {inputPerMTok: 0.15, outputPerMTok: 0.6}
/// ```
public struct Pricing: Sendable, Hashable, Codable {
    /// Dollars per million prompt (input) tokens.
    public var inputPerMTok: Double
    /// Dollars per million completion (output) tokens.
    public var outputPerMTok: Double

    public init(inputPerMTok: Double, outputPerMTok: Double) {
        self.inputPerMTok = inputPerMTok
        self.outputPerMTok = outputPerMTok
    }

    /// The cost of `usage` in US dollars.
    public func cost(of usage: Usage) -> Double {
        (Double(usage.promptTokens) * inputPerMTok + Double(usage.completionTokens) * outputPerMTok) / 1_000_000
    }
}

/// Prices by model name, matched on the longest known prefix (so dated snapshots such as
/// `gpt-4o-mini-2024-07-18` find `gpt-4o-mini`).
public struct PriceTable: Sendable, Hashable {
    public var prices: [String: Pricing]

    public init(_ prices: [String: Pricing]) {
        self.prices = prices
    }

    /// The price of `model`, or `nil` when no known name is a prefix of it.
    public func price(for model: String) -> Pricing? {
        let name = model.lowercased()
        if let exact = prices[name] { return exact }
        var best: (length: Int, price: Pricing)?
        for (prefix, price) in prices where name.hasPrefix(prefix) && prefix.count > (best?.length ?? 0) {
            best = (prefix.count, price)
        }
        return best?.price
    }

    /// This table with `other`'s entries added (they win on conflicts).
    public func merging(_ other: PriceTable) -> PriceTable {
        PriceTable(prices.merging(other.prices) { _, new in new })
    }

    /// List prices of common hosted models (US dollars per million tokens, standard tier). Prices
    /// change: set `pricing:` on a backend to be exact.
    public static let builtIn = PriceTable([
        "gpt-4o-mini": Pricing(inputPerMTok: 0.15, outputPerMTok: 0.6),
        "gpt-4o": Pricing(inputPerMTok: 2.5, outputPerMTok: 10),
        "gpt-4.1-nano": Pricing(inputPerMTok: 0.1, outputPerMTok: 0.4),
        "gpt-4.1-mini": Pricing(inputPerMTok: 0.4, outputPerMTok: 1.6),
        "gpt-4.1": Pricing(inputPerMTok: 2, outputPerMTok: 8),
        "gpt-4-turbo": Pricing(inputPerMTok: 10, outputPerMTok: 30),
        "gpt-3.5-turbo": Pricing(inputPerMTok: 0.5, outputPerMTok: 1.5),
        "o1-mini": Pricing(inputPerMTok: 1.1, outputPerMTok: 4.4),
        "o1": Pricing(inputPerMTok: 15, outputPerMTok: 60),
        "o3-mini": Pricing(inputPerMTok: 1.1, outputPerMTok: 4.4),
        "o3": Pricing(inputPerMTok: 2, outputPerMTok: 8),
        "o4-mini": Pricing(inputPerMTok: 1.1, outputPerMTok: 4.4),
        "text-embedding-3-small": Pricing(inputPerMTok: 0.02, outputPerMTok: 0),
        "text-embedding-3-large": Pricing(inputPerMTok: 0.13, outputPerMTok: 0),
        "text-embedding-ada-002": Pricing(inputPerMTok: 0.1, outputPerMTok: 0),
        "claude-3-haiku": Pricing(inputPerMTok: 0.25, outputPerMTok: 1.25),
        "claude-3-5-haiku": Pricing(inputPerMTok: 0.8, outputPerMTok: 4),
        "claude-haiku-4": Pricing(inputPerMTok: 1, outputPerMTok: 5),
        "claude-3-5-sonnet": Pricing(inputPerMTok: 3, outputPerMTok: 15),
        "claude-3-7-sonnet": Pricing(inputPerMTok: 3, outputPerMTok: 15),
        "claude-sonnet-4": Pricing(inputPerMTok: 3, outputPerMTok: 15),
        "claude-3-opus": Pricing(inputPerMTok: 15, outputPerMTok: 75),
        "claude-opus-4": Pricing(inputPerMTok: 15, outputPerMTok: 75),
    ])
}
