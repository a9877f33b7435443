import ChatbotTesterCore
import Foundation

/// What `RunStatistics.add(_:)` reads of a run record, scanned from the record's bytes
/// (`JSONByteScanner`) instead of decoded: the coordinator sums a sharded run's statistics as
/// records are journaled, as the single-process Runner sums them as records complete, without
/// decoding `results.jsonl` again. Core's `RunRecordFacts`, so both fold through one
/// `RunStatistics.add(_:)`.
public typealias ClusterRunFacts = RunRecordFacts<[Double]>

extension RunRecordFacts where TurnLatencies == [Double] {
    /// Reads the facts of the run value at `run` in `bytes` (a whole `ClusterRecord` line).
    ///
    /// - Throws: `JSONByteScanner.Failure` when a member read is not of its type.
    public init(scanning bytes: Data, run: Range<Int>) throws {
        try self.init(bytes, members: JSONByteScanner.members(ofObject: bytes, in: run))
    }

    /// Reads the facts from the run's `members` (their values' ranges in `bytes`).
    private init(_ bytes: Data, members: [JSONByteScanner.Member]) throws {
        var status = RunRecord.Status.ok
        var facts = (usage: Usage.zero, simulator: Usage?.none, cost: Double?.none, latency: 0.0, attempts: 0)
        var turns: [Double] = []
        var stopReason: String?
        var error: ErrorInfo?
        var simulated = false
        for member in members {
            let value = member.value
            switch member.name {
            case "status": status = RunRecord.Status(rawValue: try JSONByteScanner.string(bytes, at: value)) ?? .error
            case "usage": facts.usage = try Self.usage(bytes, value) ?? .zero
            case "simulatorUsage": facts.simulator = try Self.usage(bytes, value)
            case "costUSD": facts.cost = try JSONByteScanner.optionalDouble(bytes, at: value)
            case "latencyMs": facts.latency = try JSONByteScanner.optionalDouble(bytes, at: value) ?? 0
            case "attempts": facts.attempts = JSONByteScanner.isNull(bytes, at: value) ? 0 : try JSONByteScanner.int(bytes, at: value)
            case "stopReason": stopReason = JSONByteScanner.isNull(bytes, at: value) ? nil : try JSONByteScanner.string(bytes, at: value)
            case "error":
                guard !JSONByteScanner.isNull(bytes, at: value) else { continue }
                error = try Self.error(bytes, value)
            case "turns":
                guard !JSONByteScanner.isNull(bytes, at: value) else { continue }
                turns = try Self.turnLatencies(bytes, value)
            case "sample":
                // Most samples are not conversations: a sample with no `"scenario"` in its bytes (and
                // no escape, which could spell the name otherwise) is not scanned.
                guard !JSONByteScanner.isNull(bytes, at: value), Self.mayContain(bytes, value, Self.quotedScenario) else { continue }
                simulated = try JSONByteScanner.members(ofObject: bytes, in: value).contains {
                    $0.name == "scenario" && !JSONByteScanner.isNull(bytes, at: $0.value)
                }
            default:
                continue
            }
        }
        self.init(
            status: status, error: error, usage: facts.usage, simulatorUsage: facts.simulator, costUSD: facts.cost, latencyMs: facts.latency,
            attempts: facts.attempts, turnLatencies: turns, stopReason: stopReason, simulated: simulated)
    }

    /// The facts of a journal line (a `ClusterRecord`'s JSON): those its report part carries
    /// (`ClusterReportPart.facts`) when they agree with the record's status, error code and cost,
    /// else scanned from the run.
    public init(scanning envelope: ClusterRecordEnvelope) throws {
        if let facts = Self.reported(by: envelope) {
            self = facts
            return
        }
        try self.init(scanningRunOf: envelope)
    }

    /// The facts scanned from `envelope`'s run alone (its report part is not read: for a caller
    /// that found the part's facts unusable already, as `ClusterRunTotals.add(reportedBy:)` does).
    public init(scanningRunOf envelope: ClusterRecordEnvelope) throws {
        // The run's members as the envelope's scan found them: the run is not scanned again
        // (a protocol-6 read keeps none: the run is scanned now).
        let members = envelope.runMembers.isEmpty ? try JSONByteScanner.members(ofObject: envelope.bytes, in: envelope.runRange) : envelope.runMembers
        try self.init(envelope.bytes, members: members)
    }

    /// The facts `envelope`'s report part carries (`ClusterReportPart.facts`), when they agree
    /// with the record's status, error code and cost; nil otherwise (the run must be scanned).
    public static func reported(by envelope: ClusterRecordEnvelope) -> ClusterRunFacts? {
        guard let part = envelope.reportPart, let facts = ClusterReportPart.facts(part), facts.agrees(with: envelope) else { return nil }
        return facts
    }

    private static let quotedScenario = Array(#""scenario""#.utf8)

    /// Whether `range` of `bytes` may hold a member named by `quoted` (the name with its quotes):
    /// its bytes occur there, or a backslash does (a name can be written with escapes).
    static func mayContain(_ bytes: Data, _ range: Range<Int>, _ quoted: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, range.lowerBound >= 0, range.upperBound <= raw.count else { return true }
            let start = base + range.lowerBound
            if memchr(start, Int32(UInt8(ascii: "\\")), range.count) != nil { return true }
            return quoted.withUnsafeBytes { pattern in
                guard let needle = pattern.baseAddress, pattern.count > 0 else { return true }
                var at = UnsafeRawPointer(start), left = range.count
                while left >= pattern.count, let hit = memchr(at, Int32(pattern[0]), left - pattern.count + 1) {
                    if memcmp(hit, needle, pattern.count) == 0 { return true }
                    let next = UnsafeRawPointer(hit) + 1
                    left -= at.distance(to: next)
                    at = next
                }
                return false
            }
        }
    }

    // The nested objects below are read from bytes the envelope's walk or the run's scan checked
    // already: their members are found with `ClusterCheckedJSON`, not checked a second time. A
    // name written with an escape (or bytes that are not well-formed) sends them to the checked
    // scanner, which reads them exactly as before.

    private static func error(_ bytes: Data, _ range: Range<Int>) throws -> ErrorInfo {
        var code = "unknown", message = ""
        let found = try ClusterCheckedJSON.forEachMember(of: bytes, in: range) { name, value in
            if name == "code" { code = try JSONByteScanner.string(bytes, at: value) }
            if name == "message" { message = try JSONByteScanner.string(bytes, at: value) }
        }
        if found { return ErrorInfo(code: code, message: message) }
        code = "unknown"
        message = ""
        for field in try JSONByteScanner.members(ofObject: bytes, in: range) {
            if field.name == "code" { code = try JSONByteScanner.string(bytes, at: field.value) }
            if field.name == "message" { message = try JSONByteScanner.string(bytes, at: field.value) }
        }
        return ErrorInfo(code: code, message: message)
    }

    private static func turnLatencies(_ bytes: Data, _ range: Range<Int>) throws -> [Double] {
        var turns: [Double] = []
        var found = true
        let elements = try ClusterCheckedJSON.forEachElement(of: bytes, in: range) { turn in
            var latency: Range<Int>?
            let whole = ClusterCheckedJSON.forEachMember(of: bytes, in: turn) { name, value in
                if name == "latencyMs", latency == nil { latency = value }
            }
            found = found && whole
            turns.append(try latency.flatMap { try JSONByteScanner.optionalDouble(bytes, at: $0) } ?? 0)
        }
        if elements, found { return turns }
        turns = []
        for turn in try JSONByteScanner.elements(ofArray: bytes, in: range) {
            let latency = try JSONByteScanner.members(ofObject: bytes, in: turn).first { $0.name == "latencyMs" }?.value
            turns.append(try latency.flatMap { try JSONByteScanner.optionalDouble(bytes, at: $0) } ?? 0)
        }
        return turns
    }

    private static func usage(_ bytes: Data, _ range: Range<Int>) throws -> Usage? {
        guard !JSONByteScanner.isNull(bytes, at: range) else { return nil }
        var usage = Usage.zero
        let found = try ClusterCheckedJSON.forEachMember(of: bytes, in: range) { name, value in
            if name == "promptTokens" { usage.promptTokens = try JSONByteScanner.int(bytes, at: value) }
            if name == "completionTokens" { usage.completionTokens = try JSONByteScanner.int(bytes, at: value) }
        }
        if found { return usage }
        usage = .zero
        for member in try JSONByteScanner.members(ofObject: bytes, in: range) {
            if member.name == "promptTokens" { usage.promptTokens = try JSONByteScanner.int(bytes, at: member.value) }
            if member.name == "completionTokens" { usage.completionTokens = try JSONByteScanner.int(bytes, at: member.value) }
        }
        return usage
    }
}

/// A run's statistics as the coordinator sums them: every record journaled, each sample once (the
/// record-key rule), with one example message per error code, as the Runner's summary has.
public struct ClusterRunTotals: Sendable, Hashable {
    public var statistics = RunStatistics()
    /// The first message recorded per error code.
    public var errorExamples: [String: String] = [:]

    public init() {}

    /// Adds a record's facts.
    public mutating func add(_ facts: RunRecordFacts<some Sequence<Double>>) {
        statistics.add(facts)
        if let error = facts.error, errorExamples[error.code] == nil { errorExamples[error.code] = error.message }
    }

    /// Adds the totals of other records (the examples this one has first stay).
    public mutating func merge(_ other: ClusterRunTotals) {
        statistics.merge(other.statistics)
        errorExamples.merge(other.errorExamples) { mine, _ in mine }
    }

    /// Adds the facts `envelope`'s report part carries (`ClusterReportPart.leanFacts`: read from
    /// the part's bytes, no array made) when they agree with the record's status, error code and
    /// cost, as `ClusterRunFacts.reported(by:)`; false, having added nothing, otherwise (the run
    /// must be scanned).
    public mutating func add(reportedBy envelope: ClusterRecordEnvelope) -> Bool {
        if let facts = envelope.partFacts {
            add(facts)
            return true
        }
        guard let part = envelope.reportPart, let facts = ClusterReportPart.leanFacts(part), facts.agrees(with: envelope) else { return false }
        add(facts)
        return true
    }
}

/// The record-key rule, in one place: per sample id the first success wins, a later success
/// replaces an earlier error, and nothing replaces a success. The journal index (resume, merge) and
/// the coordinator's dedup of records as they arrive both apply it.
public struct ClusterRecordKeys: Sendable {
    /// What to do with a record for an id.
    public enum Admission: Sendable, Hashable {
        /// The id's first record: keep it.
        case first
        /// A success for an id recorded only as an error so far: it replaces the error.
        case replacesError
        /// Anything else (a second error, anything after a success): drop it.
        case duplicate
    }

    /// Per id: whether its kept record is a success.
    private var succeeded: [String: Bool] = [:]

    public init() {}

    /// Ids recorded so far.
    public var count: Int { succeeded.count }

    /// Whether `id` has a record.
    public func contains(_ id: String) -> Bool { succeeded[id] != nil }

    /// Whether `id`'s kept record is a success (`nil`: no record).
    public func succeeded(_ id: String) -> Bool? { succeeded[id] }

    /// Applies the rule to a record of `id` and remembers the outcome.
    public mutating func admit(_ id: String, succeeded ok: Bool) -> Admission {
        let admission = Self.admission(existing: succeeded[id], succeeded: ok)
        if admission != .duplicate { succeeded[id] = ok }
        return admission
    }

    /// The rule itself: what a record of status `ok` does to an id whose kept record is a success
    /// (`existing == true`), an error (`false`) or absent (`nil`).
    public static func admission(existing: Bool?, succeeded ok: Bool) -> Admission {
        switch existing {
        case nil: .first
        case false? where ok: .replacesError
        default: .duplicate
        }
    }

    /// Remembers `id` as recorded (a resumed run's journal), as a success unless `succeeded` is false.
    public mutating func insert(_ id: String, succeeded ok: Bool = true) {
        succeeded[id] = ok
    }
}

extension RunRecordFacts {
    /// Whether these facts (a report part's) say what `envelope`'s record says of its status,
    /// error code and cost.
    func agrees(with envelope: ClusterRecordEnvelope) -> Bool {
        status == envelope.status && error?.code == envelope.errorCode && costUSD?.bitPattern == envelope.costUSD?.bitPattern
    }
}
