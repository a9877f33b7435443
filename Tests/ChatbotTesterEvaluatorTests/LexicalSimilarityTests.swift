import ChatbotTesterEvaluator
import Foundation
import Testing

@Suite struct LexicalSimilarityTests {
    @Test func rougeLOnAKnownPair() {
        // LCS "the cat sat on mat" = 5 of 6 tokens on both sides.
        let score = LexicalSimilarity.rougeL(candidate: "The cat sat on the mat.", reference: "the cat sat on a mat")
        #expect(abs(score - 5.0 / 6.0) < 1e-12)
        #expect(LexicalSimilarity.rougeL(candidate: "abc", reference: "abc") == 1)
        #expect(LexicalSimilarity.rougeL(candidate: "x y", reference: "a b") == 0)
    }

    @Test func bleuOnAKnownPair() {
        // Precisions: 5/6, then smoothed (3+1)/(5+1), (2+1)/(4+1), (1+1)/(3+1); no brevity penalty.
        let expected = pow(5.0 / 6 * 4.0 / 6 * 3.0 / 5 * 2.0 / 4, 0.25)
        let score = LexicalSimilarity.bleu(candidate: "the cat sat on the mat", reference: "the cat sat on a mat")
        #expect(abs(score - expected) < 1e-12)
        #expect(abs(LexicalSimilarity.bleu(candidate: "the cat sat on a mat", reference: "the cat sat on a mat") - 1) < 1e-12)
        #expect(LexicalSimilarity.bleu(candidate: "zebra", reference: "the cat") == 0)
    }

    @Test func bleuAppliesTheBrevityPenalty() {
        let short = LexicalSimilarity.bleu(candidate: "the cat", reference: "the cat sat on the mat")
        // Unigram precision 1, smoothed higher orders, penalty exp(1 - 6/2).
        let expected = exp(1 - 6.0 / 2) * pow(1.0 * (1.0 + 1) / (1 + 1) * 1.0 / 1 * 1.0 / 1, 0.25)
        #expect(abs(short - expected) < 1e-12)
    }
}
