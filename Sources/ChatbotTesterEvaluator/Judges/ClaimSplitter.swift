import Foundation

/// Splits an answer into claims — its sentences and list items — so a judge can give one verdict
/// per claim (`faithfulness`, `answer-relevancy`, `context-recall` against an expected answer).
///
/// Deterministic, so the same answer always yields the same claims and a score can be traced back
/// to the claim that failed. A sentence ends at `.`, `!` or `?` followed by a space or the end of
/// the line, unless the word before is a known abbreviation ("e.g.", "Dr.") or a single letter (an
/// initial, "U.S."), or the dot sits inside a number ("3.5"). Lines and list markers (`-`, `*`,
/// `•`, `1.`, `1)`) separate claims too. Texts without a letter or digit are dropped.
public enum ClaimSplitter {
    /// Words after which a dot does not end a sentence (lower-cased, without the dot).
    public static let abbreviations: Set<String> = [
        "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "st", "approx", "inc", "ltd", "co", "corp",
        "jr", "sr", "fig", "cf", "al", "min", "max", "est", "dept", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
        "sept", "oct", "nov", "dec",
    ]

    /// The claims of `text`, at most `limit`, each cut to `maxLength` characters.
    public static func claims(_ text: String, limit: Int = 30, maxLength: Int = 600) -> [String] {
        var out: [String] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = stripListMarker(rawLine.trimmingCharacters(in: .whitespaces))
            for sentence in sentences(line) {
                let trimmed = sentence.trimmingCharacters(in: .whitespaces)
                guard trimmed.unicodeScalars.contains(where: { CharacterSet.alphanumerics.contains($0) }) else { continue }
                out.append(trimmed.count > maxLength ? String(trimmed.prefix(maxLength)) + "…" : trimmed)
                if out.count >= limit { return out }
            }
        }
        return out
    }

    /// A line without its leading list marker.
    static func stripListMarker(_ line: String) -> String {
        var rest = Substring(line)
        if let first = rest.first, "-*•·–".contains(first) {
            rest = rest.dropFirst()
            return rest.first?.isWhitespace == true ? rest.trimmingCharacters(in: .whitespaces) : line
        }
        let digits = rest.prefix(while: \.isNumber)
        if !digits.isEmpty, digits.count <= 3 {
            rest = rest.dropFirst(digits.count)
            if let mark = rest.first, mark == "." || mark == ")", rest.dropFirst().first?.isWhitespace == true {
                return rest.dropFirst().trimmingCharacters(in: .whitespaces)
            }
        }
        return line
    }

    /// The sentences of one line.
    static func sentences(_ line: String) -> [String] {
        var out: [String] = []
        var start = line.startIndex
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            let next = line.index(after: index)
            if ".!?".contains(character), endsSentence(line, at: index, next: next) {
                // Keep closing quotes and brackets with the sentence they end.
                var end = next
                while end < line.endIndex, "\"'”’)]".contains(line[end]) { end = line.index(after: end) }
                out.append(String(line[start..<end]))
                start = end
                index = end
                continue
            }
            index = next
        }
        if start < line.endIndex { out.append(String(line[start...])) }
        return out
    }

    static func endsSentence(_ line: String, at index: String.Index, next: String.Index) -> Bool {
        var after = next
        while after < line.endIndex, "\"'”’)]".contains(line[after]) || ".!?".contains(line[after]) { after = line.index(after: after) }
        if after < line.endIndex, !line[after].isWhitespace { return false }   // "3.5", "example.com"
        guard line[index] == "." else { return true }
        // The word before the dot.
        var wordStart = index
        while wordStart > line.startIndex {
            let before = line.index(before: wordStart)
            if line[before].isWhitespace || "(\"'“‘".contains(line[before]) { break }
            wordStart = before
        }
        let word = line[wordStart..<index].lowercased()
        if word.isEmpty { return true }
        if abbreviations.contains(word) { return false }
        // An initial or a dotted acronym: "J.", "U.S."
        let letters = word.filter { $0 != "." }
        if letters.count == 1, letters.first?.isLetter == true { return false }
        if word.contains("."), word.split(separator: ".").allSatisfy({ $0.count == 1 }) { return false }
        return true
    }
}
