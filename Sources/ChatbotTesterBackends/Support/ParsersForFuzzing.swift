@_spi(Fuzzing) import ChatbotTesterHTTP
import Foundation

/// The reply and event-stream parsers of the backends, fed one input whole or in pieces, for the
/// fuzz harnesses (`ChatbotTesterFuzzing`): each returns a canonical description of the outcome, so
/// a harness can check that how the bytes arrived changes nothing and that no input crashes,
/// hangs or exceeds its limits. Not API: the parsers stay internal.
@_spi(Fuzzing) public enum ParsersForFuzzing {
    /// What a parser made of one input.
    public struct Outcome: Equatable, Sendable {
        /// The result, canonically described (equal outcomes for equal results).
        public var description: String
        /// A limit the result broke (nil: none).
        public var violation: String?
    }

    /// What the own HTTP client's reply parser (`ChatbotTesterHTTP`) makes of `bytes` fed in pieces of `piece` bytes (all at once for 0),
    /// then the peer's close: the error, or the status, headers, body, keep-alive and whether it
    /// was complete.
    public static func httpReply(_ bytes: [UInt8], piece: Int, maxBodyBytes: Int, headRequest: Bool) -> Outcome {
        let (description, violation) = HTTPReplyForFuzzing.parse(bytes, piece: piece, maxBodyBytes: maxBodyBytes, headRequest: headRequest)
        return Outcome(description: description, violation: violation)
    }

    /// The events `ServerSentEventParser` makes of `bytes` fed in pieces of `piece` bytes (all at
    /// once for 0), the last one flushed at the end, or the limit it refused.
    public static func serverSentEvents(_ bytes: [UInt8], piece: Int, maxEventBytes: Int) -> Outcome {
        var parser = ServerSentEventParser(maxEventBytes: maxEventBytes)
        var events: [ServerSentEvent] = []
        do {
            var offset = 0
            let step = piece > 0 ? piece : max(1, bytes.count)
            while offset < bytes.count {
                let end = min(bytes.count, offset + step)
                events += try parser.feed(bytes[offset..<end])
                offset = end
            }
        } catch {
            return Outcome(description: "refused: over \(error.limit) bytes after \(events.count) events")
        }
        if let last = parser.finish() { events.append(last) }
        let oversized = events.first { $0.data.utf8.count > maxEventBytes }
        return Outcome(
            description: events.map { "\($0.event.map { "event \($0.debugDescription)" } ?? "-"): \($0.data.debugDescription)" }.joined(separator: "\n"),
            violation: oversized.map { "an event of \($0.data.utf8.count) bytes over the limit of \(maxEventBytes)" })
    }
}
