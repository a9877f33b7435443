import ChatbotTesterCore
import Foundation
import Testing
import Yams

@testable import ChatbotTesterPipeline

/// `YAMLPlainScalar` types plain scalars as Yams' `Resolver.default` does, without its regular
/// expressions: every decision is checked against the resolver itself.
@Suite struct YAMLPlainScalarTests {
    /// What `Resolver.default` makes of `text` as a plain, untagged scalar.
    static func reference(_ text: String) -> Yams.Tag.Name {
        Resolver.default.resolveTag(of: Node.scalar(Node.Scalar(text)))
    }

    /// The edges of every rule: each alternative of each pattern, and near misses.
    static let edges: [String] = [
        "", "~", "null", "Null", "NULL", "nULL", "nul", "yes", "Yes", "YES", "yEs", "no", "No", "NO", "true", "True", "TRUE", "tRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "y", "n", "0", "-0", "+0", "00", "07", "08", "0o7", "0o8",
        "0o", "0_", "0b", "0b1", "0b2", "0b_", "-0b101", "0x", "0x1F", "0xg", "0x_", "+0xfF_1", "1", "12", "1_000", "_1", "1_", "-1",
        "+12", "1:2", "1:30", "1:60", "1:59:59", "1:5:", "0:30", "1:75", "1:7", "12:345", "1.", "1.5", ".5", ".", "-.5", "+.5",
        "1e5", "1E5", "1e", "1e+", "1e+5", "1.5e-3", ".5e3", ".5e+3", ".5E-3", "._", "._1", "1_2.3_4", "1:30.5", "1:30.", "-1:30.5",
        ".inf", ".Inf", ".INF", "-.inf", "+.INF", "inf", ".iNf", ".nan", ".NaN", ".NAN", "-.nan", "nan", "<<", "<", "<<<", "=", "==",
        "2001-12-14", "2001-12-1", "2001-1-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
        "2001-12-15T02:59:43.1Z", "2001-12-15 2:59:43.10", "2001-12-14\t21:59:43.10 Z", "2001-12-14 21:59:43.10 ", "2001-12-14T21:59",
        "2001-12-14T21:59:43+05", "2001-12-14T21:59:43+05:3", "2001-12-14T21:59:43+05:30", "2001-12-14T21:59:43.", "20011-12-14",
        "2001-12-14 21:59:43.10 +", "2001-12-14  21:59:43", "yes please", "0.0.1", "gpt-4o", "30 days", "${API_KEY}", "1 ", " 1", "１",
    ]

    @Test func everyEdgeOfEveryRuleIsTypedAsYamsTypesIt() {
        for text in Self.edges {
            #expect(YAMLPlainScalar.tag(of: text) == Self.reference(text), "\(text.debugDescription)")
        }
    }

    /// Random strings over the characters the rules care about (seeded: the same strings each run).
    @Test func randomStringsOverTheRulesAlphabetAreTypedAsYamsTypesThem() {
        let alphabet = Array("0123456789_.:-+eExobaAfFTtZ ~<=inINfFnNlLuUyYsSrR\t")
        var random = SeededGenerator(seed: 25)
        var differences: [String] = []
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &random)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &random)! })
            if YAMLPlainScalar.tag(of: text) != Self.reference(text) { differences.append(text) }
        }
        #expect(differences.isEmpty, "\(differences.prefix(20).map(\.debugDescription))")
    }

    /// A config without a tag is typed the fast way, one with one the Yams way: the same document.
    @Test func aConfigIsTheSameDocumentWithOrWithoutATag() throws {
        let body = """
            name: n
            run: {concurrency: 8, budgetUSD: 1.5, retries: 0x10, flag: yes, nothing: ~, when: 2001-12-14, ratio: .5, big: 1_000, time: 1:30}
            note: plain text
            """
        let fast = try ConfigDocument.parse(body)
        let tagged = try ConfigDocument.parse(body + "\nextra: !!str tagged\n")
        var expected = tagged.value
        if case .object(var object) = expected {
            object["extra"] = nil
            expected = .object(object)
        }
        #expect(fast.value == expected)
        // Every example config, and the repository's other job configs, read both ways.
        let root = ExamplesTests.directory.deletingLastPathComponent()
        let others = ["ops/bench/job.yaml", "docker/job.yaml"].map { root.appendingPathComponent($0) }.filter {
            FileManager.default.fileExists(atPath: $0.path)
        }
        for url in ExamplesTests.configs.map({ ExamplesTests.directory.appendingPathComponent($0) }) + others {
            let text = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: "!", with: "")
            guard case .object(var object) = try ConfigDocument.parse(text + "\nextra: !!str tagged\n").value else { continue }
            object["extra"] = nil
            #expect(try ConfigDocument.parse(text).value == .object(object), "\(url.lastPathComponent)")
        }
        // An explicit tag keeps its scalar as written.
        let explicit = try ConfigDocument.parse("a: !!str yes\nb: yes\n")
        #expect(explicit.value == .object(["a": .string("yes"), "b": .bool(true)]))
    }
}
