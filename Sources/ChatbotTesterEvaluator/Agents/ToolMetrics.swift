import ChatbotTesterCore

/// The deterministic tool-use metrics: `tool-called`, `tool-not-called`, `tool-args`,
/// `trajectory` and `tool-errors`. They read the tool calls of the transcript
/// (`RunRecord.toolCalls`) and the runner's tool results (`RunRecord.toolResults`).
enum ToolMetrics {
    static let argumentsOptions: [OptionSpec] = [
        OptionSpec("arguments", .object, "only calls whose arguments match these count"),
        OptionSpec("argumentMatch", .string, default: "subset", "subset: the call's arguments contain these; exact: equal them"),
    ]

    static func register(into registry: inout MetricRegistry) {
        registry.registerSynchronousScoring(
            "tool-called", summary: "the bot called a tool (by name, optionally with matching arguments)",
            options: [
                OptionSpec("tool", .string, required: true, "the tool's name"),
                OptionSpec("minCalls", .integer, default: "1", "the fewest matching calls that pass"),
            ] + argumentsOptions
        ) { options, _ in
            let filter = try CallFilter(options)
            let minCalls = try options.int("minCalls") ?? 1
            guard minCalls >= 1 else { throw options.invalid("minCalls", "'minCalls' must be at least 1 (got \(minCalls))") }
            return { record in
                let calls = record.toolCalls
                let matching = calls.filter(filter.matches)
                let ok = matching.count >= minCalls
                let reason: String
                if ok {
                    reason = "called \(filter.described) \(times(matching.count))"
                } else if matching.isEmpty {
                    reason = "\(filter.described) was never called" + filter.nearMisses(calls) + "; calls: \(names(calls))"
                } else {
                    reason = "called \(filter.described) \(times(matching.count)), fewer than \(minCalls)"
                }
                return .bool(ok, reason: reason, details: ["calls": .int(matching.count)])
            }
        }
        registry.registerSynchronousScoring(
            "tool-not-called", summary: "the bot did not call a tool (by name, optionally only with matching arguments)",
            options: [OptionSpec("tool", .string, required: true, "the tool's name")] + argumentsOptions
        ) { options, _ in
            let filter = try CallFilter(options)
            return { record in
                let matching = record.toolCalls.filter(filter.matches)
                return .bool(
                    matching.isEmpty,
                    reason: matching.isEmpty
                        ? "\(filter.described) was not called"
                        : "called \(filter.described) \(times(matching.count)): \(matching.prefix(3).map(show).joined(separator: "; "))",
                    details: ["calls": .int(matching.count)])
            }
        }
        registry.registerSynchronousScoring(
            "tool-args", summary: "tool-call arguments valid against a JSON schema (default: the tool's declared parameters) or equal/contain expected ones",
            options: [
                OptionSpec("tool", .string, "check only calls of this tool (default: every call)"),
                OptionSpec("schema", .object, "a JSON Schema every checked call's arguments must satisfy"),
                OptionSpec("arguments", .object, "arguments every checked call must contain (subset) or equal (exact)"),
                OptionSpec("argumentMatch", .string, default: "subset", "subset or exact, for 'arguments'"),
            ]
        ) { options, _ in
            let tool = try options.string("tool")
            let schema = options["schema"].flatMap { $0.isNull ? nil : $0 }
            if let schema, schema.objectValue == nil, schema.boolValue == nil {
                throw options.invalid("schema", "expected a JSON Schema object")
            }
            let validator = schema.map(JSONSchemaValidator.init(schema:))
            let expected = options["arguments"].flatMap { $0.isNull ? nil : $0 }
            let match = try argumentMatch(options, allowIgnore: false)
            return { record in
                let calls = record.toolCalls.filter { tool == nil || $0.name == tool }
                guard !calls.isEmpty else {
                    if let tool { return .bool(false, reason: "'\(tool)' was never called; calls: \(names(record.toolCalls))") }
                    throw NotApplicable("the run made no tool calls")
                }
                let declared = Dictionary((record.sample.tools ?? []).map { ($0.name, $0.definition.parameters) }) { first, _ in first }
                if validator == nil, expected == nil, declared.isEmpty {
                    throw NotApplicable("no 'schema' or 'arguments' option and the case declares no tools")
                }
                var problems: [String] = []
                for call in calls {
                    if let problem = argumentProblem(call, validator: validator, expected: expected, match: match, declared: declared) {
                        problems.append("\(call.name): \(problem)")
                    }
                }
                let good = calls.count - problems.count
                return MetricScore(
                    score: Double(good) / Double(calls.count),
                    reason: problems.isEmpty
                        ? "\(good) of \(calls.count) calls have valid arguments"
                        : "\(problems.count) of \(calls.count) calls have bad arguments: " + problems.prefix(5).joined(separator: "; "),
                    details: ["checked": .int(calls.count), "problems": .array(problems.map { .string($0) })])
            }
        }
        registry.registerSynchronousScoring(
            "trajectory", summary: "the sequence of tool calls against the expected one (exact, in-order, any-order, subset); F1 with precision/recall",
            options: [
                OptionSpec("expected", .array, "expected calls: tool names or {name, arguments} (default: the case's expectedTools)"),
                OptionSpec("mode", .string, default: "in-order", "exact, in-order, any-order or subset"),
                OptionSpec("argumentMatch", .string, default: "subset", "subset, exact or ignore: how expected arguments are compared"),
            ]
        ) { options, _ in
            let fixed = try expectedCalls(options)
            let modeName = try options.choice("mode", TrajectoryMode.allCases.map(\.rawValue), default: "in-order")
            let mode = TrajectoryMode(rawValue: modeName)!
            let match = try argumentMatch(options, allowIgnore: true)
            return { record in
                let expected: [ToolCallPattern]
                if let fixed {
                    expected = fixed
                } else if let fromCase = record.sample.expectedTools {
                    expected = fromCase.map { ToolCallPattern(name: $0.name, arguments: $0.arguments) }
                } else {
                    throw NotApplicable("no 'expected' option and the case has no 'expectedTools'")
                }
                let calls = record.toolCalls
                let result = TrajectoryMatch.compare(
                    expected: expected, actual: calls.map { ($0.name, $0.arguments) }, mode: mode, arguments: match)
                return trajectoryScore(result, expected: expected, calls: calls)
            }
        }
        registry.registerSynchronousScoring(
            "tool-errors", summary: "no tool result was an error and every tool call's arguments parsed as JSON",
            options: [OptionSpec("parseErrors", .bool, default: "true", "also fail on tool calls whose arguments are not valid JSON")]
        ) { options, _ in
            let checkArguments = try options.bool("parseErrors") ?? true
            return { record in
                var problems: [String] = []
                for result in record.toolResults where result.isError == true {
                    problems.append("\(result.name ?? "tool") returned an error: '\(excerpt(result.content))'")
                }
                if checkArguments {
                    for call in record.toolCalls {
                        if case .string(let raw) = call.arguments {
                            problems.append("\(call.name) arguments are not JSON: '\(excerpt(raw, limit: 60))'")
                        }
                    }
                }
                let calls = record.toolCalls.count
                return .bool(
                    problems.isEmpty,
                    reason: problems.isEmpty
                        ? "\(calls) tool \(calls == 1 ? "call" : "calls"), no errors"
                        : problems.prefix(5).joined(separator: "; ") + (problems.count > 5 ? "; and \(problems.count - 5) more" : ""),
                    details: ["errors": .int(problems.count), "calls": .int(calls)])
            }
        }
    }

    // MARK: Pieces

    /// A tool name with optional argument constraints.
    struct CallFilter: Sendable {
        var tool: String
        var arguments: JSONValue?
        var match: ArgumentMatch

        init(_ options: ComponentOptions) throws {
            tool = try options.requiredString("tool")
            arguments = options["arguments"].flatMap { $0.isNull ? nil : $0 }
            match = try ToolMetrics.argumentMatch(options, allowIgnore: false)
        }

        func matches(_ call: ToolCall) -> Bool {
            call.name == tool && JSONMatch.matches(arguments, call.arguments, mode: match)
        }

        var described: String {
            "'\(tool)'" + (arguments.map { " with arguments \(match == .exact ? "" : "containing ")\(excerpt($0.canonicalText, limit: 120))" } ?? "")
        }

        /// ", though it was called N times with other arguments" when the name alone matched.
        func nearMisses(_ calls: [ToolCall]) -> String {
            let sameName = calls.filter { $0.name == tool }
            guard arguments != nil, !sameName.isEmpty else { return "" }
            return " (called \(times(sameName.count)) with other arguments: \(sameName.prefix(2).map { excerpt($0.arguments.canonicalText, limit: 100) }.joined(separator: "; ")))"
        }
    }

    static func argumentMatch(_ options: ComponentOptions, allowIgnore: Bool) throws -> ArgumentMatch {
        let allowed = ArgumentMatch.allCases.filter { allowIgnore || $0 != .ignore }.map(\.rawValue)
        return ArgumentMatch(rawValue: try options.choice("argumentMatch", allowed, default: "subset"))!
    }

    /// The `expected` option: names or `{name, arguments}` objects, with errors naming the entry.
    static func expectedCalls(_ options: ComponentOptions) throws -> [ToolCallPattern]? {
        guard let value = options["expected"], !value.isNull else { return nil }
        guard let list = value.arrayValue else {
            throw options.invalid("expected", "expected a list of tool names or {name, arguments}")
        }
        return try list.enumerated().map { index, entry in
            if let name = entry.stringValue, !name.isEmpty { return ToolCallPattern(name: name) }
            let field = "expected[\(index)]"
            guard let object = entry.objectValue else { throw options.invalid(field, "expected a tool name or {name, arguments}") }
            for key in object.keys.sorted() where key != "name" && key != "arguments" {
                throw options.invalid("\(field).\(key)", "unknown key '\(key)' (expected name, arguments)")
            }
            guard let name = object["name"]?.stringValue, !name.isEmpty else {
                throw options.invalid("\(field).name", "expected the tool's name")
            }
            return ToolCallPattern(name: name, arguments: object["arguments"].flatMap { $0.isNull ? nil : $0 })
        }
    }

    /// Why a call's arguments fail, or `nil`.
    static func argumentProblem(
        _ call: ToolCall, validator: JSONSchemaValidator?, expected: JSONValue?, match: ArgumentMatch, declared: [String: JSONValue?]
    ) -> String? {
        if case .string(let raw) = call.arguments { return "arguments are not JSON: '\(excerpt(raw, limit: 60))'" }
        if let expected, !JSONMatch.matches(expected, call.arguments, mode: match) {
            return "arguments \(excerpt(call.arguments.canonicalText, limit: 100)) do not \(match == .exact ? "equal" : "contain") \(excerpt(expected.canonicalText, limit: 100))"
        }
        var schema = validator
        if schema == nil, expected == nil {
            guard let entry = declared[call.name] else { return "not one of the declared tools" }
            schema = entry.map(JSONSchemaValidator.init(schema:))
        }
        if let schema {
            let violations = schema.validate(call.arguments, limit: 3)
            if !violations.isEmpty { return violations.map(\.description).joined(separator: ", ") }
        }
        return nil
    }

    static func trajectoryScore(_ result: TrajectoryMatch, expected: [ToolCallPattern], calls: [ToolCall]) -> MetricScore {
        let figures = "precision \(format(result.precision)), recall \(format(result.recall)), F1 \(format(result.f1))"
        var reason = "\(result.mode.rawValue): \(result.satisfied ? "matches" : "does not match") (\(result.matched) of \(result.expectedCount) expected calls paired; \(figures))"
        // Missing calls count against every mode but `subset`.
        if !result.missing.isEmpty, result.mode != .subset {
            reason += "; missing: " + result.missing.prefix(5).map { index in
                let call = expected[index]
                return call.name + (call.arguments.map { " " + excerpt($0.canonicalText, limit: 80) } ?? "")
            }.joined(separator: ", ")
        }
        // Extra calls count against `exact` and `subset` only.
        if !result.unexpected.isEmpty, result.mode == .exact || result.mode == .subset {
            reason += "; unexpected: " + result.unexpected.prefix(5).map { show(calls[$0]) }.joined(separator: ", ")
        }
        reason += "; made: \(names(calls))"
        return MetricScore(
            score: result.score, reason: reason,
            details: [
                "mode": .string(result.mode.rawValue), "precision": .double(result.precision), "recall": .double(result.recall),
                "f1": .double(result.f1), "matched": .int(result.matched), "expected": .int(result.expectedCount),
                "calls": .int(result.actualCount),
            ])
    }

    static func format(_ value: Double) -> String { ReportText.number(value, digits: 2) }

    static func times(_ count: Int) -> String { count == 1 ? "once" : "\(count) times" }

    static func show(_ call: ToolCall) -> String { "\(call.name)(\(excerpt(call.arguments.canonicalText, limit: 80)))" }

    static func names(_ calls: [ToolCall]) -> String {
        calls.isEmpty ? "none" : calls.prefix(10).map(\.name).joined(separator: " → ") + (calls.count > 10 ? " → …" : "")
    }
}
