import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import NIOHTTP1

/// When the tokens of a streamed reply arrived, for time to first token and tokens per second.
struct StreamMeasurement: Sendable {
    /// When the request started (before it was sent).
    var start: ContinuousClock.Instant
    /// The arrival of the first chunk that carried a token (a content or tool-call fragment).
    var firstToken: ContinuousClock.Instant?
    /// The arrival of the last chunk that carried a token.
    var lastToken: ContinuousClock.Instant?
    /// How many token-carrying deltas arrived.
    var deltas = 0
    /// The reply's headers.
    var headers = HTTPHeaders()

    init(start: ContinuousClock.Instant) {
        self.start = start
    }

    /// Records a chunk that arrived `now` carrying `deltas` token deltas.
    mutating func record(deltas count: Int, at now: ContinuousClock.Instant) {
        guard count > 0 else { return }
        if firstToken == nil { firstToken = now }
        lastToken = now
        deltas += count
    }

    /// Milliseconds from the start to the first token (`nil` when no token came).
    var timeToFirstTokenMs: Double? {
        firstToken.map { Self.milliseconds($0 - start) }
    }

    /// Tokens per second over the generation: the tokens after the first divided by the time from the
    /// first token to the last. `tokens` is the reported completion token count when the provider gives
    /// one, else the number of deltas. `nil` when fewer than two tokens came or they came at once.
    func tokensPerSecond(tokens: Int?) -> Double? {
        guard let firstToken, let lastToken else { return nil }
        let count = tokens.flatMap { $0 > 0 ? $0 : nil } ?? deltas
        let seconds = Self.milliseconds(lastToken - firstToken) / 1000
        guard count > 1, seconds > 0 else { return nil }
        return Double(count - 1) / seconds
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

extension BackendHTTP {
    /// Sends a JSON body and streams the 2xx reply's body through `consume`, which returns how many
    /// token deltas each chunk completed; the arrival time of those chunks is measured. A non-2xx reply
    /// throws like `send` (its body read whole, up to the reply limit); a transport failure mid-stream
    /// is a `connection_closed`/`timeout`/… error like any other.
    func stream(
        _ method: HTTPMethod = .POST, url: String, headers: [(String, String)], body: Data?, start: ContinuousClock.Instant,
        consume: ([UInt8]) throws -> Int
    ) async throws -> StreamMeasurement {
        let peer = BackendPeer(field: field, url: url)
        var sent = Self.requestHeaders(headers, body: body)
        if !sent.contains(where: { $0.0.lowercased() == "accept" }) { sent.append(("accept", "text/event-stream")) }
        var measurement = StreamMeasurement(start: start)
        let response: HTTPStreamedResponse
        do {
            response = try await client.stream(HTTPRequest(method, url: url, headers: sent, body: body), timeout: timeout, maxBodyBytes: Self.maxReplyBytes)
        } catch {
            throw Self.transportError(error, peer: peer)
        }
        measurement.headers = response.headers
        guard (200..<300).contains(response.status) else {
            let whole: Data
            do {
                whole = try await response.collect(upTo: Self.maxReplyBytes)
            } catch {
                throw Self.transportError(error, peer: peer)
            }
            throw Self.statusError(HTTPReply(status: response.status, headers: response.headers, body: whole), peer: peer)
        }
        do {
            for try await chunk in response.body {
                let now = ContinuousClock.now
                measurement.record(deltas: try consume(chunk), at: now)
            }
        } catch let error as ChatbotTesterError {
            throw error
        } catch {
            throw Self.transportError(error, peer: peer)
        }
        return measurement
    }
}

extension StreamMeasurement {
    /// The timings a `ChatResponse` carries; `nil` when no token arrived (an empty reply has no first token).
    func timing(completionTokens: Int?, chunks: Int) -> StreamTiming? {
        guard let timeToFirstTokenMs else { return nil }
        return StreamTiming(
            timeToFirstTokenMs: timeToFirstTokenMs, tokensPerSecond: tokensPerSecond(tokens: completionTokens), chunks: chunks)
    }
}
