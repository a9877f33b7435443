import ChatbotTesterCore

/// Deterministic bag-of-words vectors: each lower-cased word is hashed (FNV-1a) into one of
/// `dimensions` buckets with a hashed sign, and the vector is L2-normalised.
///
/// Texts sharing words get a positive cosine similarity, identical texts 1 — enough for offline
/// demos and tests of embedding metrics, with no model.
public enum HashedEmbedding {
    /// The vector of one text.
    public static func vector(_ text: String, dimensions: Int = 256) -> [Double] {
        var vector = [Double](repeating: 0, count: max(1, dimensions))
        for word in words(text) {
            let hash = FNV1a64.hash(word.utf8)
            let index = Int(hash % UInt64(vector.count))
            vector[index] += (hash >> 63) == 0 ? 1 : -1
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.map { $0 / norm } : vector
    }

    /// Lower-cased runs of letters and digits.
    public static func words(_ text: String) -> [Substring] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }
    }

    /// A rough token count (words), for usage figures of deterministic backends.
    public static func tokenCount(_ text: String) -> Int {
        words(text).count
    }
}
