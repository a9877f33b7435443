import ChatbotTesterCore

/// An expected tool call: a tool name and, optionally, the arguments it must be called with.
public struct ToolCallPattern: Sendable, Hashable {
    public var name: String
    /// `nil`: any arguments will do.
    public var arguments: JSONValue?

    public init(name: String, arguments: JSONValue? = nil) {
        self.name = name
        self.arguments = arguments
    }
}

/// How the arguments of an expected call are compared with a made call.
public enum ArgumentMatch: String, Sendable, Hashable, CaseIterable {
    /// Every member of the expected object is in the call with an equal value (recursively); the
    /// call may carry more.
    case subset
    /// The call's arguments equal the expected ones (numbers by value, object keys in any order).
    case exact
    /// Only the name counts.
    case ignore
}

/// JSON comparisons for tool arguments.
public enum JSONMatch {
    /// Whether a made call's arguments satisfy an expected call's: `subset` is Core's
    /// `JSONValue.contains(subset:)` (objects member by member, extra members allowed; arrays
    /// element by element, same length; 1 == 1.0), `exact` is JSON equality.
    public static func matches(_ expected: JSONValue?, _ actual: JSONValue, mode: ArgumentMatch) -> Bool {
        guard let expected, mode != .ignore else { return true }
        return mode == .exact ? JSONSchemaValidator.equal(expected, actual) : actual.contains(subset: expected)
    }
}

/// How a made sequence of tool calls is compared with the expected one (`trajectory` metric).
public enum TrajectoryMode: String, Sendable, Hashable, CaseIterable {
    /// The calls are exactly the expected ones, in order, nothing else.
    case exact
    /// The expected calls appear in this order; other calls may come between them.
    case inOrder = "in-order"
    /// The expected calls all appear, in any order; other calls may come too.
    case anyOrder = "any-order"
    /// Every call made is one of the expected calls (each expected call covers one call); not every
    /// expected call has to be made.
    case subset
}

/// The comparison of a made tool-call sequence with the expected one.
///
/// `matched` counts expected calls paired with made calls — by the longest common subsequence for
/// `exact` and `in-order`, by a maximum one-to-one matching for `any-order` and `subset`.
/// Precision is `matched / made`, recall `matched / expected` (each 1 when its side is empty), F1
/// their harmonic mean. `score` is 1 when the mode's condition holds, else the F1 (partial credit,
/// always below 1 then).
public struct TrajectoryMatch: Sendable, Hashable {
    public var mode: TrajectoryMode
    public var matched: Int
    public var expectedCount: Int
    public var actualCount: Int
    /// Indices of expected calls left unpaired.
    public var missing: [Int]
    /// Indices of made calls left unpaired.
    public var unexpected: [Int]

    public var precision: Double { actualCount == 0 ? 1 : Double(matched) / Double(actualCount) }
    public var recall: Double { expectedCount == 0 ? 1 : Double(matched) / Double(expectedCount) }
    public var f1: Double {
        let p = precision
        let r = recall
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// Whether the mode's condition holds.
    public var satisfied: Bool {
        switch mode {
        case .exact: matched == expectedCount && matched == actualCount
        case .inOrder, .anyOrder: matched == expectedCount
        case .subset: matched == actualCount
        }
    }

    /// 1 when satisfied, else the F1.
    public var score: Double { satisfied ? 1 : min(f1, 0.999) }

    /// Calls compared at most per side (longer sequences are cut, so time and memory stay bounded).
    public static let limit = 512

    /// Compares the made calls (`(name, arguments)` in call order) with the expected ones.
    public static func compare(
        expected: [ToolCallPattern], actual: [(name: String, arguments: JSONValue)], mode: TrajectoryMode,
        arguments: ArgumentMatch = .subset
    ) -> TrajectoryMatch {
        let expected = Array(expected.prefix(limit))
        let actual = Array(actual.prefix(limit))
        let fits: (Int, Int) -> Bool = { e, a in
            expected[e].name == actual[a].name && JSONMatch.matches(expected[e].arguments, actual[a].arguments, mode: arguments)
        }
        let pairs: [(Int, Int)] =
            switch mode {
            case .exact, .inOrder: longestCommonSubsequence(expected.count, actual.count, fits)
            case .anyOrder, .subset: maximumMatching(expected.count, actual.count, fits)
            }
        let pairedExpected = Set(pairs.map(\.0))
        let pairedActual = Set(pairs.map(\.1))
        return TrajectoryMatch(
            mode: mode, matched: pairs.count, expectedCount: expected.count, actualCount: actual.count,
            missing: (0..<expected.count).filter { !pairedExpected.contains($0) },
            unexpected: (0..<actual.count).filter { !pairedActual.contains($0) })
    }

    /// The pairs of a longest common subsequence under `fits`, in order.
    static func longestCommonSubsequence(_ n: Int, _ m: Int, _ fits: (Int, Int) -> Bool) -> [(Int, Int)] {
        guard n > 0, m > 0 else { return [] }
        // table[i][j]: LCS length of expected[i...] and actual[j...]
        var table = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                table[i][j] = fits(i, j) ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        var pairs: [(Int, Int)] = []
        var i = 0
        var j = 0
        while i < n, j < m {
            if fits(i, j), table[i][j] == table[i + 1][j + 1] + 1 {
                pairs.append((i, j))
                i += 1
                j += 1
            } else if table[i + 1][j] >= table[i][j + 1] {
                i += 1
            } else {
                j += 1
            }
        }
        return pairs
    }

    /// A maximum one-to-one matching under `fits` (augmenting paths), as (expected, actual) pairs.
    static func maximumMatching(_ n: Int, _ m: Int, _ fits: (Int, Int) -> Bool) -> [(Int, Int)] {
        var owner = [Int?](repeating: nil, count: m)   // actual index -> expected index
        func augment(_ e: Int, _ seen: inout [Bool]) -> Bool {
            for a in 0..<m where !seen[a] && fits(e, a) {
                seen[a] = true
                if owner[a] == nil || augment(owner[a]!, &seen) {
                    owner[a] = e
                    return true
                }
            }
            return false
        }
        for e in 0..<n {
            var seen = [Bool](repeating: false, count: m)
            _ = augment(e, &seen)
        }
        return owner.enumerated().compactMap { a, e in e.map { ($0, a) } }.sorted { $0.0 < $1.0 }
    }
}
