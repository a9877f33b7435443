import Foundation
import NIOCore
import NIOHTTP1

/// The mock server's per-connection I/O shell: gathers a request, asks the server for a reply,
/// carries it out (delay, hang, write) and keeps the in-flight counter honest.
final class MockLLMHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: MockLLMServer
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// A counted request awaits its reply on this connection.
    private var pending = false
    /// The current request's body went over the limit.
    private var tooLarge = false
    /// Larger request bodies are refused with 413 rather than buffered.
    static let maxRequestBytes = 32 << 20

    init(server: MockLLMServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes > Self.maxRequestBytes {
                tooLarge = true
                body.clear()
            } else if !tooLarge {
                body.writeBuffer(&chunk)
            }
        case .end:
            // The hold starts here, once the request has been read whole: the reply's delay counts
            // from this moment, so the time spent building the reply is part of it, not added to it.
            let received = NIODeadline.now()
            guard let head else { return }
            self.head = nil
            if tooLarge {
                tooLarge = false
                pending = false
                write(Prepared(.error(413, "request body larger than \(Self.maxRequestBytes) bytes"), keepAlive: false), context: context)
                return
            }
            let path = String(head.uri.prefix { $0 != "?" })
            let query = head.uri.firstIndex(of: "?").map { String(head.uri[head.uri.index(after: $0)...]) }
            let counted = !MockLLMServer.controlPaths.contains(path)
            let reply = server.respond(
                method: head.method.rawValue, path: path, query: query, headers: head.headers.map { ($0.name, $0.value) },
                body: Data(body.readableBytesView))
            body.clear()
            pending = counted
            if reply.hang { return }
            // Built before the wait, so that the timer's wake-up has only the write left to do.
            let prepared = Prepared(reply, keepAlive: head.isKeepAlive)
            if reply.delayMs > 0 {
                // NIO runs a scheduled task only once its deadline has passed (never early); the
                // deadline is rounded up to the nanosecond so the hold is never shorter than asked.
                let deadline = received + .nanoseconds(Int64((reply.delayMs * 1_000_000).rounded(.up)))
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(deadline: deadline) {
                    let fired = NIODeadline.now()
                    let (handler, context) = loopBound.value
                    handler.write(prepared, context: context, held: (received, fired - deadline))
                }
            } else {
                write(prepared, context: context)
            }
        }
    }

    /// A reply with its head and body built, ready to write.
    struct Prepared: Sendable {
        var head: HTTPResponseHead
        var body: ByteBuffer
        /// Server-sent events, each written as a flushed chunk of its own (instead of `body`).
        var chunks: [ByteBuffer]?
        /// The chunks go out with the head and the end in one flush instead of one flush each.
        var chunksInOneWrite: Bool
        var status: Int
        var delayMs: Double
        var keepAlive: Bool

        init(_ reply: MockLLMReply, keepAlive: Bool) {
            var headers = HTTPHeaders(reply.headers)
            if reply.chunks == nil { headers.add(name: "content-length", value: String(reply.body.count)) }
            headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
            head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: headers)
            body = reply.chunks == nil ? ByteBuffer(bytes: reply.body) : ByteBuffer()
            chunks = reply.chunks.map { $0.map { ByteBuffer(bytes: $0) } }
            chunksInOneWrite = reply.chunksInOneWrite
            status = reply.status
            delayMs = reply.delayMs
            self.keepAlive = keepAlive
        }
    }

    private func write(
        _ reply: Prepared, context: ChannelHandlerContext, held: (since: NIODeadline, timerLateness: TimeAmount)? = nil
    ) {
        guard context.channel.isActive else { return }
        let keepAlive = reply.keepAlive
        if pending {
            pending = false
            server.finish(status: reply.status)
        }
        context.write(wrapOutboundOut(.head(reply.head)), promise: nil)
        if let chunks = reply.chunks, reply.chunksInOneWrite {
            for chunk in chunks { context.write(wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil) }
        } else if let chunks = reply.chunks {
            // Each event its own flushed chunk, as a provider streams them.
            context.flush()
            for chunk in chunks { context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil) }
        } else {
            context.write(wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        if let held {
            let server = self.server
            let asked = reply.delayMs
            // Completed once the last byte is in the socket (at once for a small reply: the flush writes it).
            done.futureResult.whenSuccess { _ in
                server.recordHold(
                    nanoseconds: (NIODeadline.now() - held.since).nanoseconds, askedMs: asked,
                    timerLatenessNanoseconds: held.timerLateness.nanoseconds)
            }
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if pending {
            pending = false
            server.finish(status: nil)
        }
        context.fireChannelInactive()
    }
}
