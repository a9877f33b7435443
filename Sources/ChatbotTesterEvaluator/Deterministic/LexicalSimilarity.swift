import ChatbotTesterCore
import Foundation

/// Lexical overlap scores between a candidate and a reference text: ROUGE-L F1 and BLEU.
///
/// Texts are tokenised into lower-cased words (letters and digits; punctuation dropped).
public enum LexicalSimilarity {
    /// Lower-cased word tokens.
    public static func tokens(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    /// ROUGE-L F1 (β = 1): from the longest common subsequence of the token lists.
    public static func rougeL(candidate: String, reference: String) -> Double {
        let a = tokens(candidate), b = tokens(reference)
        guard !a.isEmpty, !b.isEmpty else { return a.isEmpty && b.isEmpty ? 1 : 0 }
        let lcs = Double(longestCommonSubsequence(a, b))
        guard lcs > 0 else { return 0 }
        let precision = lcs / Double(a.count), recall = lcs / Double(b.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// Length of the longest common subsequence (two-row dynamic programme).
    static func longestCommonSubsequence(_ a: [String], _ b: [String]) -> Int {
        var previous = [Int](repeating: 0, count: b.count + 1)
        var current = previous
        for x in a {
            for (j, y) in b.enumerated() {
                current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Sentence BLEU up to `maxOrder`-grams with uniform weights, brevity penalty, and add-one
    /// smoothing of the n-gram precisions for n > 1 (Lin & Och 2004, "smoothing 2"), so a short
    /// reply with no 4-gram match is not scored zero.
    public static func bleu(candidate: String, reference: String, maxOrder: Int = 4) -> Double {
        let c = tokens(candidate), r = tokens(reference)
        guard !c.isEmpty, !r.isEmpty else { return c.isEmpty && r.isEmpty ? 1 : 0 }
        var logSum = 0.0
        for n in 1...maxOrder {
            let cand = ngrams(c, n), ref = ngrams(r, n)
            let total = cand.values.reduce(0, +)
            let matches = cand.reduce(0) { $0 + min($1.value, ref[$1.key] ?? 0) }
            let precision: Double
            if n == 1 {
                guard matches > 0 else { return 0 }
                precision = Double(matches) / Double(total)
            } else {
                precision = Double(matches + 1) / Double(total + 1)
            }
            logSum += log(precision) / Double(maxOrder)
        }
        let brevity = c.count >= r.count ? 1 : exp(1 - Double(r.count) / Double(c.count))
        return brevity * exp(logSum)
    }

    static func ngrams(_ tokens: [String], _ n: Int) -> [String: Int] {
        guard tokens.count >= n else { return [:] }
        var counts: [String: Int] = [:]
        for start in 0...(tokens.count - n) {
            counts[tokens[start..<(start + n)].joined(separator: " "), default: 0] += 1
        }
        return counts
    }

    static func register(into registry: inout MetricRegistry) {
        let options = [OptionSpec("value", .string, "the reference text (default: the sample's expected)")]
        for (type, summary) in [("rouge-l", "ROUGE-L F1 against the reference"), ("bleu", "smoothed sentence BLEU-4 against the reference")] {
            registry.registerSynchronousScoring(type, summary: summary, options: options, defaultThreshold: BuiltinMetrics.defaultThreshold(for: type)) { options, _ in
                { record in
                    let reference = try options.reference(record)
                    let reply = try requireReply(record)
                    let score = type == "bleu" ? bleu(candidate: reply, reference: reference) : rougeL(candidate: reply, reference: reference)
                    return MetricScore(score: score, reason: "\(type) \(DecimalText.fixed(score, digits: 3)) against the reference")
                }
            }
        }
    }
}
