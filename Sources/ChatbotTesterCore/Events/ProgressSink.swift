import Foundation

/// A terminal progress display driven by `ProgressEvent`s: count, total, rate, ETA, errors.
///
/// On a TTY it redraws one line in place (at most every `redrawIntervalSeconds`); otherwise it writes
/// a plain line every `plainIntervalSeconds`, and a summary line whenever a stage finishes. Warnings
/// and errors from `LogEvent`s are printed on their own lines above the bar. It writes only to the
/// `FileHandle` it is given (the CLI passes standard error); library code never writes to stdout.
public final class ProgressSink: EventSink {
    private struct State {
        var stages: [String: ProgressSnapshot] = [:]
        var order: [String] = []
        var lastDraw: Double = -.infinity
        var lineShown = false
    }

    private let output: FileHandle
    private let isTerminal: Bool
    private let width: Int
    private let clock: any TesterClock
    private let redrawIntervalSeconds: Double
    private let plainIntervalSeconds: Double
    private let logLevel: LogEvent.Level?
    private let state: Locked<State>

    /// - Parameters:
    ///   - output: where to draw (standard error in the CLI).
    ///   - isTerminal: redraw in place; detected with `isatty` when `nil`.
    ///   - width: the terminal width (`COLUMNS`, else 100) when `nil`.
    ///   - logLevel: the least severe `LogEvent` shown; `nil` shows none.
    public init(
        output: FileHandle, isTerminal: Bool? = nil, width: Int? = nil, clock: any TesterClock = SystemTesterClock(),
        redrawIntervalSeconds: Double = 0.1, plainIntervalSeconds: Double = 10, logLevel: LogEvent.Level? = .warning
    ) {
        self.output = output
        self.isTerminal = isTerminal ?? (isatty(output.fileDescriptor) == 1)
        self.width = width ?? ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 100
        self.clock = clock
        self.redrawIntervalSeconds = redrawIntervalSeconds
        self.plainIntervalSeconds = plainIntervalSeconds
        self.logLevel = logLevel
        self.state = Locked(State())
    }

    /// Current snapshots, in the order stages started.
    public var snapshots: [ProgressSnapshot] {
        state.withLock { s in s.order.compactMap { s.stages[$0] } }
    }

    public func receive(_ envelope: EventEnvelope) async {
        if let event = envelope.event as? any ProgressEvent {
            handle(event.progress)
        } else if let log = envelope.event as? LogEvent, shows(log.level) {
            let prefix = log.source.map { "\(log.level.rawValue): \($0): " } ?? "\(log.level.rawValue): "
            writeAbove(prefix + log.message)
        }
    }

    public func finish() async {
        let text = state.withLock { s -> String in
            defer { s.lineShown = false }
            return isTerminal && s.lineShown ? "\n" : ""
        }
        write(text)
    }

    private func shows(_ level: LogEvent.Level) -> Bool {
        guard let logLevel else { return false }
        let order: [LogEvent.Level] = [.debug, .info, .warning, .error]
        return order.firstIndex(of: level)! >= order.firstIndex(of: logLevel)!
    }

    private func handle(_ update: ProgressUpdate) {
        let now = clock.now()
        let text = state.withLock { s -> String in
            let stage: String
            switch update {
            case .started(let name, _), .advanced(let name, _, _), .finished(let name): stage = name
            }
            var restarts = false
            if case .started = update { restarts = true }
            if s.stages[stage] == nil { s.order.append(stage) }
            if s.stages[stage] == nil || restarts { s.stages[stage] = ProgressSnapshot(stage: stage, startedAt: now) }
            s.stages[stage]!.apply(update, now: now)
            if case .finished = update {
                let summary = ProgressRenderer.summary(s.stages[stage]!, now: now)
                s.stages[stage] = nil
                s.order.removeAll { $0 == stage }
                s.lastDraw = -.infinity
                return (isTerminal ? clearLine(&s) : "") + summary + "\n" + redraw(&s, now: now)
            }
            let interval = isTerminal ? redrawIntervalSeconds : plainIntervalSeconds
            guard now - s.lastDraw >= interval else { return "" }
            return redraw(&s, now: now)
        }
        write(text)
    }

    private func writeAbove(_ message: String) {
        let now = clock.now()
        let text = state.withLock { s -> String in
            guard isTerminal else { return message + "\n" }
            return clearLine(&s) + message + "\n" + redraw(&s, now: now)
        }
        write(text)
    }

    private func clearLine(_ s: inout State) -> String {
        guard s.lineShown else { return "" }
        s.lineShown = false
        return "\r\u{1B}[K"
    }

    private func redraw(_ s: inout State, now: Double) -> String {
        let active = s.order.compactMap { s.stages[$0] }
        guard !active.isEmpty else { return "" }
        s.lastDraw = now
        if isTerminal {
            s.lineShown = true
            return "\r\u{1B}[K" + ProgressRenderer.line(active, now: now, style: .terminal(width: width))
        }
        return ProgressRenderer.line(active, now: now, style: .plain) + "\n"
    }

    private func write(_ text: String) {
        guard !text.isEmpty else { return }
        try? output.write(contentsOf: Data(SecretMasker.shared.mask(text).utf8))
    }
}
