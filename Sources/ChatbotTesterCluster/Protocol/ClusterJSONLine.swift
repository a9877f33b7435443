import ChatbotTesterCore
import Foundation

/// Checks that bytes are one JSON object fit to be a line of a JSONL file, in one pass over the
/// bytes without allocating (no members collected, no strings made, no closures): what the
/// coordinator checks of every record a worker sends before journaling it verbatim.
///
/// It accepts exactly the objects `JSONByteScanner` accepts (strings with their escapes, paired
/// `\u` surrogates and well-formed UTF-8, numbers within `Double`'s range, literals, nesting below
/// `JSONByteScanner.maxDepth`) minus what a strict reader of the JSONL file refuses or what would
/// break the file into lines: a trailing comma, a byte-order mark, and any line feed or carriage
/// return (inside strings they must be escaped anyway; between tokens they are refused). Duplicate
/// member names are not looked for (see docs/cluster.md, "What the coordinator trusts").
/// A differential test holds it to the scanner on every one-byte change of a few records.
public enum ClusterJSONLine {
    /// Whether `range` of `data` (all of it when `nil`) is exactly one such JSON object (spaces and
    /// tabs around it allowed).
    public static func isObject(_ data: Data, in range: Range<Int>? = nil) -> Bool {
        data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let range = range ?? 0..<bytes.count
            guard range.lowerBound >= 0, range.upperBound <= bytes.count else { return false }
            var cursor = JSONLineCursor(bytes: bytes, at: range.lowerBound, end: range.upperBound)
            return cursor.wholeObject()
        }
    }
}

/// Where a record's parts are in its JSON when it has the workers' shape (sorted keys, compact:
/// `{"evals":[…],"index":N,"run":{…},"sampleId":"…"}`), found by the one pass that checks its
/// bytes (`JSONLineCursor.record()`). Offsets are those of the buffer read.
struct ClusterRecordLayout {
    var index: Int
    var evals: Range<Int>
    var run: Range<Int>
    /// The value of `run.sample`.
    var sample: Range<Int>
    /// The string tokens (quotes included) of the record's `sampleId` and of `run.sampleId`.
    var sampleId: Range<Int>
    var runSampleId: Range<Int>
    var status: Range<Int>
    var cost: Range<Int>?
    var error: Range<Int>?
}

/// A position in bytes being checked; every step stays below `end`. See `ClusterJSONLine`.
struct JSONLineCursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var at: Int
    let end: Int

    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), colon = UInt8(ascii: ":"), comma = UInt8(ascii: ",")

    /// One object filling the range (spaces and tabs around it).
    mutating func wholeObject() -> Bool {
        skipSpace()
        guard at < end, bytes[at] == UInt8(ascii: "{"), skipValue(depth: 0) else { return false }
        skipSpace()
        return at == end
    }

    @inline(__always) mutating func skipSpace() {
        while at < end, bytes[at] == 0x20 || bytes[at] == 0x09 { at += 1 }
    }

    @inline(__always) mutating func take(_ byte: UInt8) -> Bool {
        guard at < end, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    mutating func skipValue(depth: Int) -> Bool {
        guard depth < JSONByteScanner.maxDepth, at < end else { return false }
        switch bytes[at] {
        case UInt8(ascii: "{"): return skipObject(depth: depth)
        case UInt8(ascii: "["): return skipArray(depth: depth)
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return skipNumber()
        default: return false
        }
    }

    /// `word` here (the caller saw its first byte).
    @inline(__always) mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard end - at >= count else { return false }
        let start = word.utf8Start
        for offset in 0..<count where bytes[at + offset] != start[offset] { return false }
        at += count
        return true
    }

    private mutating func skipObject(depth: Int) -> Bool {
        at += 1
        skipSpace()
        if take(UInt8(ascii: "}")) { return true }
        while true {
            skipSpace()
            guard at < end, bytes[at] == Self.quote, skipString() else { return false }
            skipSpace()
            guard take(Self.colon) else { return false }
            skipSpace()
            guard skipValue(depth: depth + 1) else { return false }
            skipSpace()
            // After a comma another member must follow: a trailing comma is refused.
            if take(Self.comma) { continue }
            return take(UInt8(ascii: "}"))
        }
    }

    private mutating func skipArray(depth: Int) -> Bool {
        at += 1
        skipSpace()
        if take(UInt8(ascii: "]")) { return true }
        while true {
            skipSpace()
            guard skipValue(depth: depth + 1) else { return false }
            skipSpace()
            if take(Self.comma) { continue }
            return take(UInt8(ascii: "]"))
        }
    }

    /// Moves past the string whose opening quote is here. Runs of eight plain bytes (printable
    /// ASCII, neither a quote nor a backslash) are skipped a word at a time.
    mutating func skipString() -> Bool {
        at += 1
        guard let base = bytes.baseAddress else { return false }
        while true {
            while end - at >= 8, Self.isPlain(UnsafeRawPointer(base + at).loadUnaligned(as: UInt64.self)) { at += 8 }
            guard at < end else { return false }
            let byte = bytes[at]
            if byte == Self.quote {
                at += 1
                return true
            }
            if byte >= 0x20 && byte < 0x80 && byte != Self.backslash {
                at += 1
            } else if byte == Self.backslash {
                guard escape() else { return false }
            } else if byte < 0x20 {
                return false
            } else {
                guard utf8() else { return false }
            }
        }
    }

    /// Whether none of the eight bytes of `word` is a control byte (below 0x20), a quote, a
    /// backslash or above 0x7F (exact as a whole: the classic "has a zero byte" / "has a byte less
    /// than n" word tests).
    @inline(__always) private static func isPlain(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & highs
        let quoted = word ^ (ones &* 0x22), escaped = word ^ (ones &* 0x5C)
        let quote = (quoted &- ones) & ~quoted & highs
        let backslash = (escaped &- ones) & ~escaped & highs
        return (control | quote | backslash | (word & highs)) == 0
    }

    /// The escape whose backslash is here.
    private mutating func escape() -> Bool {
        at += 1
        guard at < end else { return false }
        let escape = bytes[at]
        at += 1
        switch escape {
        case Self.quote, Self.backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"),
            UInt8(ascii: "t"):
            return true
        case UInt8(ascii: "u"):
            guard let code = hex4() else { return false }
            if (0xD800...0xDBFF).contains(code) {
                guard end - at >= 2, bytes[at] == Self.backslash, bytes[at + 1] == UInt8(ascii: "u") else { return false }
                at += 2
                guard let low = hex4() else { return false }
                return (0xDC00...0xDFFF).contains(low)
            }
            return !(0xDC00...0xDFFF).contains(code)
        default:
            return false
        }
    }

    private mutating func hex4() -> UInt32? {
        try? JSONByteParser.hex4(bytes, at: &at, end: end)
    }

    /// One well-formed UTF-8 sequence of two or more bytes here (no overlong form, surrogate or
    /// code point above U+10FFFF).
    private mutating func utf8() -> Bool {
        let lead = bytes[at]
        let count: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 2
        case 0xE0: count = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED: count = 3; high = 0x9F
        case 0xF0: count = 4; low = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4: count = 4; high = 0x8F
        default: return false
        }
        guard end - at >= count else { return false }
        let second = bytes[at + 1]
        guard second >= low, second <= high else { return false }
        for offset in 2..<max(2, count) where bytes[at + offset] & 0xC0 != 0x80 { return false }
        at += count
        return true
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// As `JSONByteScanner` checks a number (a long mantissa or an exponent must be within
    /// `Double`'s range).
    private mutating func skipNumber() -> Bool {
        let start = at
        var integral = true, exponent = false
        if bytes[at] == UInt8(ascii: "-") { at += 1 }
        guard at < end, Self.isDigit(bytes[at]) else { return false }
        if bytes[at] == UInt8(ascii: "0") {
            at += 1
        } else {
            while at < end, Self.isDigit(bytes[at]) { at += 1 }
        }
        if at < end, bytes[at] == UInt8(ascii: ".") {
            integral = false
            at += 1
            let digits = at
            while at < end, Self.isDigit(bytes[at]) { at += 1 }
            guard at > digits else { return false }
        }
        if at < end, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            integral = false
            exponent = true
            at += 1
            if at < end, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            let digits = at
            while at < end, Self.isDigit(bytes[at]) { at += 1 }
            guard at > digits else { return false }
        }
        if integral && at - start <= 18 { return true }
        if !exponent && at - start <= 300 { return true }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        if integral, Int(text) != nil { return true }
        guard let value = Double(text) else { return false }
        return value.isFinite
    }

    // MARK: - A record in the workers' shape

    /// The member names of a run and of an evaluation, sorted by their bytes (the order a
    /// sorted-keys encoder writes them in), with what the layout reads of them.
    private struct Names {
        let run: [[UInt8]]
        let eval: [[UInt8]]
        let runRequired: UInt64
        let evalRequired: UInt64
        let sample: Int, sampleId: Int, status: Int, cost: Int, error: Int

        init() {
            func sorted(_ names: Set<String>) -> [[UInt8]] { names.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) } }
            run = sorted(RunRecord.fieldNames)
            eval = sorted(EvalRecord.fieldNames)
            func mask(_ names: [[UInt8]], _ required: [String]) -> UInt64 {
                required.reduce(0) { mask, name in mask | 1 << UInt64(names.firstIndex(of: Array(name.utf8)) ?? 63) }
            }
            runRequired = mask(run, ["sampleId", "target", "sample", "status"])
            evalRequired = mask(eval, ["sampleId", "metric", "type", "status"])
            let run = run
            func position(_ name: String) -> Int { run.firstIndex(of: Array(name.utf8)) ?? -1 }
            sample = position("sample")
            sampleId = position("sampleId")
            status = position("status")
            cost = position("costUSD")
            error = position("error")
        }
    }

    private static let names = Names()

    /// Reads and checks the record filling the range when it has the workers' shape: every byte is
    /// checked as `wholeObject()` checks it, the top-level members are exactly `evals`, `index` (a
    /// plain integer), `run` and `sampleId` (a string) in that order, the run's and each
    /// evaluation's member names are their records' own, in sorted order, with the required ones.
    /// `nil` for anything else — not only a fault: a record of another shape (spaces, other key
    /// order, an escaped name) is then read by `ClusterRecordEnvelope(scanning:)`, which names a
    /// fault's field.
    mutating func record() -> ClusterRecordLayout? {
        let names = Self.names
        guard prefix(#"{"evals":"#), at < end, bytes[at] == UInt8(ascii: "[") else { return nil }
        let evalsStart = at
        at += 1
        if !take(UInt8(ascii: "]")) {
            while true {
                guard at < end, bytes[at] == UInt8(ascii: "{"), evaluation(names) else { return nil }
                if take(Self.comma) { continue }
                guard take(UInt8(ascii: "]")) else { return nil }
                break
            }
        }
        let evals = evalsStart..<at
        guard prefix(#","index":"#), let index = plainInt() else { return nil }
        guard prefix(#","run":"#), at < end, bytes[at] == UInt8(ascii: "{") else { return nil }
        let runStart = at
        at += 1
        var next = 0
        var seen: UInt64 = 0
        var sample = 0..<0, runSampleId = 0..<0, status = 0..<0
        var cost: Range<Int>?, error: Range<Int>?
        while true {
            guard let found = key(names.run, &next) else { return nil }
            seen |= 1 << UInt64(found)
            let valueStart = at
            guard skipValue(depth: 2) else { return nil }
            let value = valueStart..<at
            switch found {
            case names.sample: sample = value
            case names.sampleId: runSampleId = value
            case names.status: status = value
            case names.cost: cost = value
            case names.error: error = value
            default: break
            }
            if take(Self.comma) { continue }
            guard take(UInt8(ascii: "}")) else { return nil }
            break
        }
        guard seen & names.runRequired == names.runRequired, bytes[runSampleId.lowerBound] == Self.quote else { return nil }
        let run = runStart..<at
        guard prefix(#","sampleId":"#), at < end, bytes[at] == Self.quote else { return nil }
        let idStart = at
        guard skipString() else { return nil }
        let sampleId = idStart..<at
        guard take(UInt8(ascii: "}")), at == end else { return nil }
        return ClusterRecordLayout(
            index: index, evals: evals, run: run, sample: sample, sampleId: sampleId, runSampleId: runSampleId, status: status, cost: cost,
            error: error)
    }

    /// An evaluation object (at depth 2) with only `EvalRecord`'s members, sorted, the required ones
    /// among them.
    private mutating func evaluation(_ names: Names) -> Bool {
        at += 1
        var next = 0
        var seen: UInt64 = 0
        while true {
            guard let found = key(names.eval, &next) else { return false }
            seen |= 1 << UInt64(found)
            guard skipValue(depth: 3) else { return false }
            if take(Self.comma) { continue }
            guard take(UInt8(ascii: "}")) else { return false }
            return seen & names.evalRequired == names.evalRequired
        }
    }

    /// A member name here without escapes, and its colon: its position in `names`, searched from
    /// `next` on (names must come in sorted order, each once); nil for any other.
    private mutating func key(_ names: [[UInt8]], _ next: inout Int) -> Int? {
        guard at < end, bytes[at] == Self.quote else { return nil }
        let start = at + 1
        var cursor = start
        while cursor < end, bytes[cursor] != Self.quote {
            guard bytes[cursor] >= 0x20, bytes[cursor] < 0x80, bytes[cursor] != Self.backslash else { return nil }
            cursor += 1
        }
        guard cursor < end - 1, bytes[cursor + 1] == Self.colon else { return nil }
        let length = cursor - start
        at = cursor + 2
        let name = bytes.baseAddress! + start
        while next < names.count {
            let order = names[next].withUnsafeBufferPointer { candidate in
                let common = memcmp(candidate.baseAddress!, name, min(candidate.count, length))
                return common != 0 ? Int(common) : candidate.count - length
            }
            next += 1
            if order == 0 { return next - 1 }
            // Past where the name would be: not a member name, or out of order.
            if order > 0 { return nil }
        }
        return nil
    }

    /// `text` here.
    private mutating func prefix(_ text: StaticString) -> Bool {
        literal(text)
    }

    /// A non-negative integer of at most 18 digits here (no sign, fraction or exponent).
    private mutating func plainInt() -> Int? {
        let start = at
        var value = 0
        while at < end, Self.isDigit(bytes[at]) {
            value = value * 10 + Int(bytes[at] &- UInt8(ascii: "0"))
            at += 1
        }
        let digits = at - start
        guard digits > 0, digits <= 18, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        return value
    }
}
