/// Turns progress snapshots into text: a pure function, so the display is unit-tested.
///
/// TTY (redrawn in place):  `run  [########------------]  412/1000  41%  38.5/s  ETA 0:15  errors 3`
/// plain (periodic lines):  `run: 412/1000 (41%) 38.5/s ETA 0:15 errors 3`
public enum ProgressRenderer {
    public enum Style: Sendable, Hashable {
        /// One line redrawn in place, with a bar when one stage is active.
        case terminal(width: Int)
        /// Plain log lines.
        case plain
    }

    /// One line showing every stage in `snapshots`.
    public static func line(_ snapshots: [ProgressSnapshot], now: Double, style: Style) -> String {
        switch style {
        case .plain:
            return snapshots.map { plain($0, now: now) }.joined(separator: " | ")
        case .terminal(let width):
            if snapshots.count == 1 {
                let snapshot = snapshots[0]
                let text = terminal(snapshot, now: now, barWidth: 20)
                if text.count <= width || knownTotal(snapshot) == nil { return clip(text, width) }
                return clip(terminal(snapshot, now: now, barWidth: 0), width)
            }
            return clip(snapshots.map { terminal($0, now: now, barWidth: 0) }.joined(separator: " │ "), width)
        }
    }

    /// The closing line of a finished stage.
    public static func summary(_ snapshot: ProgressSnapshot, now: Double) -> String {
        let elapsed = (snapshot.finishedAt ?? now) - snapshot.startedAt
        var parts = ["\(snapshot.stage): done \(counts(snapshot)) in \(duration(elapsed))"]
        if let rate = snapshot.rate(now: now) { parts.append("(\(formatRate(rate)))") }
        parts.append("\(failedLabel(snapshot)) \(snapshot.failed)")
        return parts.joined(separator: " ")
    }

    /// What an unsuccessful item is called: the generator drops candidates (duplicates, invalid
    /// output), which are not errors; the other stages count errors.
    static func failedLabel(_ s: ProgressSnapshot) -> String {
        s.stage == "generate" ? "dropped" : "errors"
    }

    static func plain(_ s: ProgressSnapshot, now: Double) -> String {
        var parts = ["\(s.stage): \(counts(s))"]
        if let percent = percent(s) { parts[0] += " (\(percent))" }
        parts.append(contentsOf: rateAndETA(s, now: now))
        parts.append("\(failedLabel(s)) \(s.failed)")
        return parts.joined(separator: " ")
    }

    static func terminal(_ s: ProgressSnapshot, now: Double, barWidth: Int) -> String {
        var parts = [s.stage]
        if barWidth > 0, let total = knownTotal(s) { parts.append(bar(done: s.completed, total: total, width: barWidth)) }
        parts.append(counts(s))
        if let percent = percent(s) { parts.append(percent) }
        parts.append(contentsOf: rateAndETA(s, now: now))
        if s.failed > 0 { parts.append("\(failedLabel(s)) \(s.failed)") }
        return parts.joined(separator: "  ")
    }

    /// `[#####-----]` with `width` cells between the brackets.
    public static func bar(done: Int, total: Int, width: Int) -> String {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let filled = Int((fraction * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }

    /// `m:ss` or `h:mm:ss`.
    public static func duration(_ seconds: Double) -> String {
        let total = Int(max(0, seconds).rounded())
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60)
        let two = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }

    /// The total, unless the count has passed it (it was an estimate: generation plans an upper
    /// bound, then dedups and drops): then `86`, never `86/39 (220%)`.
    static func knownTotal(_ s: ProgressSnapshot) -> Int? {
        s.total.flatMap { s.completed <= $0 ? $0 : nil }
    }

    static func counts(_ s: ProgressSnapshot) -> String {
        knownTotal(s).map { "\(s.completed)/\($0)" } ?? "\(s.completed)"
    }

    static func percent(_ s: ProgressSnapshot) -> String? {
        guard let total = knownTotal(s), total > 0 else { return nil }
        return "\(Int((Double(s.completed) * 100 / Double(total)).rounded(.down)))%"
    }

    static func rateAndETA(_ s: ProgressSnapshot, now: Double) -> [String] {
        var parts: [String] = []
        if let rate = s.rate(now: now) { parts.append(formatRate(rate)) }
        if s.finishedAt == nil, let eta = s.eta(now: now) { parts.append("ETA \(duration(eta))") }
        return parts
    }

    static func formatRate(_ rate: Double) -> String {
        if rate >= 100 { return "\(Int(rate.rounded()))/s" }
        return "\((rate * 10).rounded() / 10)/s"
    }

    static func clip(_ text: String, _ width: Int) -> String {
        guard text.count > width else { return text }
        var head = String(text.prefix(max(0, width - 1)))
        while head.last == " " { head.removeLast() }
        return head + "…"
    }
}
