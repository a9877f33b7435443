/// The own path's reply parser fed one input, for the fuzz harnesses (through the Backends'
/// `ParsersForFuzzing`). Not API: the parser stays internal.
@_spi(Fuzzing) public enum HTTPReplyForFuzzing {
    /// What `HTTP1ReplyParser` makes of `bytes` fed in pieces of `piece` bytes (all at once for 0),
    /// then the peer's close: the error, or the status, headers, body, keep-alive and whether it was
    /// complete; and a violation when the body is over the limit or when the same bytes read as a
    /// stream (the body taken after every piece) give another body or outcome.
    public static func parse(_ bytes: [UInt8], piece: Int, maxBodyBytes: Int, headRequest: Bool) -> (description: String, violation: String?) {
        var whole = HTTP1ReplyParser(maxBodyBytes: maxBodyBytes, headRequest: headRequest)
        var streamed = HTTP1ReplyParser(maxBodyBytes: maxBodyBytes, headRequest: headRequest)
        var streamedBody: [UInt8] = []
        var progress = HTTP1ReplyParser.Progress.needMore
        var streamedOutcome = "complete"
        do {
            var offset = 0
            let step = piece > 0 ? piece : max(1, bytes.count)
            while offset < bytes.count, progress == .needMore {
                let end = min(bytes.count, offset + step)
                progress = try bytes[offset..<end].withUnsafeBytes { try whole.feed($0) }
                do {
                    _ = try bytes[offset..<end].withUnsafeBytes { try streamed.feed($0) }
                    streamedBody += streamed.takeBody()
                } catch {
                    streamedOutcome = "refused: \(error)"
                }
                offset = end
            }
            if progress == .needMore {
                progress = try whole.finish()
                if (try? streamed.finish()) == nil { streamedOutcome = "refused" }
                streamedBody += streamed.takeBody()
            }
        } catch {
            return (description: "refused: \(error)", violation: nil)
        }
        let headers = whole.headers.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        let body = whole.body
        var violation: String?
        if body.count > maxBodyBytes {
            violation = "a body of \(body.count) bytes over the limit of \(maxBodyBytes)"
        } else if streamedOutcome != "complete" {
            violation = "read as a stream, the reply was \(streamedOutcome)"
        } else if progress == .complete, streamedBody != body {
            violation = "read as a stream, the body has \(streamedBody.count) bytes, not \(body.count)"
        }
        return (
            description: "\(progress) \(whole.status) keepAlive=\(whole.keepAlive)\n\(headers)\nbody \(body.count): \(body.prefix(64))",
            violation: violation
        )
    }
}
