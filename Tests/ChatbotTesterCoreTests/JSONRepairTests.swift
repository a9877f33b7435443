import ChatbotTesterCore
import Testing

/// The one repair of model JSON, used by judges (verdicts) and synthesis (items).
@Suite struct JSONRepairTests {
    // Synthesis replies: the repairs are counted in the generation report, so the list is exact.
    @Test(arguments: [
        (#"[{"a": 1}]"#, #"[{"a":1}]"#, [String]()),
        ("```json\n[{\"a\": 1}]\n```", #"[{"a":1}]"#, ["code-fence"]),
        ("Here you go:\n{\"a\": [1, 2,]}\nHope it helps!", #"{"a":[1,2]}"#, ["surrounding-prose", "trailing-comma"]),
        (#"{"items": [{"a": 1}, {"a": 2}, {"a": "thr"#, #"{"items":[{"a":1},{"a":2}]}"#, ["truncated"]),
        (#"[{"a": 1}, {"a": 2}"#, #"[{"a":1},{"a":2}]"#, ["truncated"]),
        (#"["one", "two", "thr"#, #"["one","two"]"#, ["truncated"]),
        ("```\n{\"s\": \"a ] } , string\",}\n", #"{"s":"a ] } , string"}"#, ["code-fence", "trailing-comma"]),
        (#"{"s": "escaped \" quote [", "n": 1}"#, #"{"n":1,"s":"escaped \" quote ["}"#, []),
    ])
    func synthesisRepairs(input: String, canonical: String, repairs: [String]) throws {
        let outcome = try JSONRepair.parse(input).get()
        #expect(outcome.value.canonicalText == canonical)
        #expect(outcome.repairs.map(\.rawValue) == repairs)
    }

    @Test(arguments: ["no json here", #"{"items": [{"a": 1"#, "", "[1, 2"])
    func unrecoverable(input: String) {
        if case .success(let outcome) = JSONRepair.parse(input) {
            // "[1, 2" is recoverable to [1] — numbers complete at the comma.
            #expect(input == "[1, 2" && outcome.value == [1])
        }
    }

    // Judge verdicts: only whether anything was repaired is recorded.
    @Test(arguments: [
        (#"{"a": 1}"#, #"{"a":1}"#, false),
        ("```json\n{\"a\": 1}\n```", #"{"a":1}"#, true),
        ("Sure! {\"a\": [1, 2]} Anything else?", #"{"a":[1,2]}"#, true),
        ("{'a': \"it's\"}", #"{"a":"it's"}"#, true),
        ("{a: True, b: None, c: False,}", #"{"a":true,"b":null,"c":false}"#, true),
        ("{\"a\": {\"b\": [1, 2,]", #"{"a":{"b":[1,2]}}"#, true),
        ("{\"a\": \"x} y\"}", #"{"a":"x} y"}"#, false),
    ])
    func verdictRepairs(input: String, canonical: String, repaired: Bool) throws {
        let outcome = try JSONRepair.parse(input).get()
        #expect(outcome.value.canonicalText == canonical)
        #expect(outcome.repaired == repaired)
    }

    @Test func hopelessTextFails() {
        guard case .failure(let failure) = JSONRepair.parse("no json at all") else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.message == "no JSON object or array in the reply")
        #expect(JSONRepair.extractJSON(from: "nothing") == nil)
    }

    // Each repair kind is reported, in the order applied.
    @Test(arguments: [
        ("{'score': 4, 'reason': 'it\\'s fine'}", #"{"reason":"it's fine","score":4}"#, ["single-quotes"]),
        ("{score: 4}", #"{"score":4}"#, ["unquoted-keys"]),
        ("{\"score\": 2, \"reason\": too vague}", #"{"reason":"too vague","score":2}"#, ["bare-words"]),
        ("{\"ok\": True, \"why\": None}", #"{"ok":true,"why":null}"#, ["python-literals"]),
        ("{\"reason\": \"line one\nline two\ttab\"}", #"{"reason":"line one\nline two\ttab"}"#, ["control-characters"]),
        ("{'reason': 'it's fine', 'score': 3}", #"{"reason":"it's fine","score":3}"#, ["single-quotes"]),
        ("{reason: it's fine, score: 3}", #"{"reason":"it's fine","score":3}"#, ["unquoted-keys", "bare-words"]),
        ("{\"名前\": \"値\", 'ключ': 'значение'}", #"{"ключ":"значение","名前":"値"}"#, ["single-quotes"]),
    ])
    func everyKindIsReported(input: String, canonical: String, repairs: [String]) throws {
        let outcome = try JSONRepair.parse(input).get()
        #expect(outcome.value.canonicalText == canonical)
        #expect(outcome.repairs.map(\.rawValue) == repairs)
    }

    // Cut off at the token limit.
    @Test(arguments: [
        // Only objects open: the string and objects are closed, keeping the partial value.
        (#"{"score": 4, "reason": "The answer mis"#, #"{"reason":"The answer mis","score":4}"#),
        (#"{"score": 4, "reason": "a \"quote\" and \"#, #"{"reason":"a \"quote\" and ","score":4}"#),
        (#"{"score": 4,"#, #"{"score":4}"#),
        // Cut inside a key or a number, or before a value: the incomplete member goes.
        (#"{"score": 4, "reason":"#, #"{"score":4}"#),
        (#"{"score": 4, "reas"#, #"{"score":4}"#),
        (#"{"score": 4, "detail": {"a": 1, "b"#, #"{"detail":{"a":1},"score":4}"#),
        // An array open: never half an element, even in a nested array.
        (#"{"score": 4, "tags": ["a", "b"#, #"{"score":4,"tags":["a"]}"#),
        (#"{"items": [{"a": 1}, {"a": 2, "tags": ["x", "y"#, #"{"items":[{"a":1}]}"#),
        // An array with no complete element goes with its member.
        (#"{"score": 4, "tags": ["ab"#, #"{"score":4}"#),
        (#"{"score": 4, "detail": {"ok": true, "tags": [{"a"#, #"{"detail":{"ok":true},"score":4}"#),
        // A closed array before the cut does not count as the place to cut.
        (#"{"tags": ["a", "b"], "reason": "cut"#, #"{"reason":"cut","tags":["a","b"]}"#),
    ])
    func truncatedReplies(input: String, canonical: String) throws {
        let outcome = try JSONRepair.parse(input).get()
        #expect(outcome.value.canonicalText == canonical)
        #expect(outcome.repairs.contains(.truncated))
    }

    @Test(arguments: [#"Sure: {"items": [{"input": "How do"#, #"{"items"#, "{", "[", #"[{"a": 1"#, #"{"score": 4."#])
    func aCutThatLeavesNothingNamesIt(input: String) {
        guard case .failure(let failure) = JSONRepair.parse(input) else {
            Issue.record("expected a failure for \(input)")
            return
        }
        #expect(failure.message == "the JSON is cut off before its first complete element")
    }

    @Test func bracketsInProseBeforeTheJSONAreSkipped() throws {
        let outcome = try JSONRepair.parse(#"On a scale [1-5] I give: {"score": 4}"#).get()
        #expect(outcome.value == ["score": 4])
        #expect(outcome.repairs == [.surroundingProse])
    }

    @Test func unrepairableJSONSaysWhatWasTried() {
        guard case .failure(let failure) = JSONRepair.parse("```json\n{\"a\": 1 2}\n```") else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.message.hasPrefix("not valid JSON after repair (code-fence): {\"a\": 1 2}"))
    }

    @Test(arguments: [
        ("text ```json\n{\"a\": 1}\n``` more", #"{"a": 1}"#),
        (#"Result: [1, [2, 3]] done"#, "[1, [2, 3]]"),
        (#"cut {"a": [1"#, #"{"a": [1"#),
    ])
    func extraction(text: String, extracted: String) {
        #expect(JSONRepair.extractJSON(from: text) == extracted)
    }

    @Test func numbersAreKeptAsWritten() throws {
        let outcome = try JSONRepair.parse("{n: 1e5, m: -2.5E-3, list: [0.5,],}").get()
        #expect(outcome.value == (try JSONValue(parsing: #"{"n": 1e5, "m": -2.5E-3, "list": [0.5]}"#)))
        #expect(outcome.repairs == [.trailingComma, .unquotedKeys])
    }

    @Test func validJSONIsLeftAlone() throws {
        let text = #"{"s": "tab\\t, quote \" and 'single' [x]", "n": [1, -2.5e3, true, false, null], "o": {}}"#
        let outcome = try JSONRepair.parse(text).get()
        #expect(outcome.repairs.isEmpty)
        #expect(outcome.value == (try JSONValue(parsing: text)))
    }

    /// Every prefix of a synthesis reply either fails or yields only whole items, in order.
    @Test func everyCutOfAnItemsReplyKeepsOnlyWholeItems() throws {
        let full = #"{"items": [{"input": "a, b", "n": [1, 2], "ok": true}, {"input": "c \" d", "n": [], "ok": false}, {"input": "e", "n": [3], "ok": null}]}"#
        let items = try #require(JSONRepair.parse(full).get().value["items"]?.arrayValue)
        let bytes = Array(full.utf8)
        var recovered = 0
        for length in 0..<bytes.count {
            let prefix = String(decoding: bytes[..<length], as: UTF8.self)
            guard case .success(let outcome) = JSONRepair.parse(prefix) else { continue }
            recovered += 1
            let got = try #require(outcome.value["items"]?.arrayValue, "cut at \(length): \(outcome.value.canonicalText)")
            #expect(Array(items.prefix(got.count)) == got, "cut at \(length)")
            #expect(outcome.repairs.contains(.truncated))
        }
        #expect(recovered > 0)
    }

    /// Every prefix of a judge verdict that has the score keeps it.
    @Test func everyCutOfAVerdictAfterTheScoreKeepsIt() {
        let full = #"{'score': 4, 'reason': 'Mentions the window, but it's vague.', 'tags': ['a', 'b']}"#
        let bytes = Array(full.utf8)
        let scoreEnd = bytes.firstIndex(of: UInt8(ascii: ","))!
        for length in (scoreEnd + 1)..<bytes.count {
            let prefix = String(decoding: bytes[..<length], as: UTF8.self)
            guard case .success(let outcome) = JSONRepair.parse(prefix) else {
                Issue.record("nothing recovered from \(prefix)")
                continue
            }
            #expect(outcome.value["score"] == 4, "\(prefix)")
        }
    }

    @Test(arguments: ["{]", "}{", "[}", "{\"a\": [1}", "[[[[[[", String(repeating: "[", count: 5000), "\\", "{\"a\":\"\\", "'", "{'", "[1-5] [2-3] [4] {"])
    func oddInputNeverCrashes(input: String) {
        if case .success(let outcome) = JSONRepair.parse(input) {
            #expect(outcome.value.objectValue != nil || outcome.value.arrayValue != nil)
        }
        _ = JSONRepair.extractJSON(from: input)
    }
}
