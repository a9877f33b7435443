import Foundation
import ChatbotTesterCore

/// Deterministic text perturbations: the same seed, text and labels give the same variant.
public struct Perturber: Sendable {
    public var seed: UInt64
    /// Share of eligible words a typo variant touches (at least one).
    public var typoRate: Double

    public init(seed: UInt64 = 0, typoRate: Double = 0.15) {
        self.seed = seed
        self.typoRate = typoRate
    }

    /// A variant of `text`, or `nil` for `paraphrase` (which needs a model).
    /// - Parameter labels: make the random stream specific to a sample, turn and variant number.
    public func apply(_ kind: PerturbationKind, to text: String, labels: [String] = []) -> String? {
        var random = SeededGenerator(seed: seed, labels: ["perturb", kind.rawValue] + labels + [text])
        switch kind {
        case .typos: return typos(text, &random)
        case .casing: return casing(text, &random)
        case .whitespace: return whitespace(text, &random)
        case .punctuation: return punctuation(text, &random)
        case .filler: return filler(text, &random)
        case .paraphrase: return nil
        }
    }

    func typos(_ text: String, _ random: inout SeededGenerator) -> String {
        var words = text.split(separator: " ", omittingEmptySubsequences: false).map { Array($0) }
        let eligible = words.indices.filter { words[$0].filter(\.isLetter).count >= 3 }
        guard !eligible.isEmpty else { return text }
        let count = max(1, Int((Double(eligible.count) * typoRate).rounded()))
        for pick in random.distinctIndices(count, below: eligible.count) {
            var word = words[eligible[pick]]
            let letters = word.indices.filter { word[$0].isLetter }
            let position = letters[random.int(below: letters.count)]
            let operation = random.int(below: 20)
            if operation < 10, let near = KeyboardLayout.neighbours[Character(word[position].lowercased())], !near.isEmpty {
                let replacement = random.pick(near)
                word[position] = word[position].isUppercase ? Character(replacement.uppercased()) : replacement
            } else if operation < 14, position + 1 < word.count, word[position + 1].isLetter, word[position] != word[position + 1] {
                word.swapAt(position, position + 1)
            } else if operation < 17 {
                word.remove(at: position)
            } else {
                word.insert(word[position], at: position)
            }
            words[eligible[pick]] = word
        }
        return words.map { String($0) }.joined(separator: " ")
    }

    func casing(_ text: String, _ random: inout SeededGenerator) -> String {
        let modes = random.shuffle([0, 1, 2, 3])
        for mode in modes {
            let result: String
            switch mode {
            case 0: result = text.lowercased()
            case 1: result = text.uppercased()
            case 2:
                result = String(text.map { random.chance(0.5) ? Character($0.uppercased()) : Character($0.lowercased()) })
            default:
                // Title Case Every Word.
                result = text.split(separator: " ", omittingEmptySubsequences: false)
                    .map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined(separator: " ")
            }
            if result != text { return result }
        }
        return text
    }

    func whitespace(_ text: String, _ random: inout SeededGenerator) -> String {
        switch random.int(below: 3) {
        case 0:
            // Double some spaces (at least one).
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count > 1 else { return "  " + text + " " }
            let forced = random.int(below: parts.count - 1)
            var out = String(parts[0])
            for (index, part) in parts.dropFirst().enumerated() {
                out += (index == forced || random.chance(0.3)) ? "  " : " "
                out += part
            }
            return out
        case 1:
            return String(repeating: " ", count: 1 + random.int(below: 3)) + text + String(repeating: " ", count: 1 + random.int(below: 3))
        default:
            // A tab or newline in place of one space; padding when there is none.
            let spaces = text.indices.filter { text[$0] == " " }
            guard !spaces.isEmpty else { return "\t" + text + "\n" }
            var out = text
            let index = random.pick(spaces)
            out.replaceSubrange(index...index, with: random.chance(0.5) ? "\t" : "\n")
            return out
        }
    }

    func punctuation(_ text: String, _ random: inout SeededGenerator) -> String {
        let stripped = String(text.filter { !$0.isPunctuation })
        let hasPunctuation = stripped != text
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let mode = hasPunctuation ? random.int(below: 3) : 1
        switch mode {
        case 0:
            return stripped
        case 1:
            // Repeat (or add) the final mark.
            let last = trimmed.last.flatMap { $0.isPunctuation ? $0 : nil }
            let mark: Character = last ?? (random.chance(0.5) ? "?" : "!")
            return trimmed + String(repeating: mark, count: 2 + random.int(below: 2))
        default:
            // Drop the final mark and the commas.
            var out = trimmed.replacingOccurrences(of: ",", with: "")
            while let last = out.last, last.isPunctuation { out.removeLast() }
            return out == text ? stripped : out
        }
    }

    static let fillers = ["um", "uh", "like", "so", "basically", "you know", "actually", "I mean"]
    static let openers = ["Hey, ", "Hi there, ", "Quick question: ", "So, ", "Um, ", "Hello! "]

    func filler(_ text: String, _ random: inout SeededGenerator) -> String {
        var words = text.split(separator: " ").map(String.init)
        if words.count < 3 || random.chance(0.4) {
            return random.pick(Self.openers) + text
        }
        let insertions = 1 + random.int(below: 2)
        for _ in 0..<insertions {
            let position = 1 + random.int(below: words.count - 1)
            words.insert(random.pick(Self.fillers) + ",", at: position)
        }
        return words.joined(separator: " ")
    }
}
