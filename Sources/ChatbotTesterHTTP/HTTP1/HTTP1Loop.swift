#if os(Linux)
import Foundation
import CEpoll
import Glibc
import NIOHTTP1
import Synchronization

/// How one exchange (a request written, its reply read) ended, as the loop thread reports it.
enum HTTP1Outcome: Sendable {
    /// The whole reply; `reusable` when the connection may carry the next request.
    case reply(status: Int, headers: [(String, String)], body: [UInt8], reusable: Bool)
    /// The connection failed or closed. `received` is how many reply bytes had arrived (0: none).
    case closed(errno: Int32?, received: Int)
    /// Connecting took longer than the connect timeout.
    case connectTimeout
    /// No whole reply by the request's deadline.
    case deadline
    /// The reply broke HTTP/1.1 or a limit.
    case invalid(HTTP1ReplyParser.Failure)
    /// The task was cancelled.
    case cancelled
}

/// One request on one connection, from the moment it is handed to the loop until its outcome.
/// Before registration only the sending task touches it; after, only the loop thread (the loop's
/// lock hands it over); `registered` and `cancelRequested` are read and written under that lock.
final class HTTP1Exchange: @unchecked Sendable {
    enum Phase {
        case connecting
        case writing
        case reading
    }

    let id: UInt64
    let fd: Int32
    /// The fd is already in the epoll set (a reused connection).
    let inEpoll: Bool
    var phase: Phase
    var out: [UInt8]
    var written = 0
    var parser: HTTP1ReplyParser
    /// Monotonic nanoseconds.
    let deadline: UInt64
    let connectDeadline: UInt64
    /// The task waiting for the whole reply (a plain exchange).
    var continuation: CheckedContinuation<HTTP1Outcome, Never>?
    /// Where a streamed reply's head and body go as they arrive (a streamed exchange, never reused).
    let sink: HTTP1StreamSink?
    var registered = false
    var cancelRequested = false

    init(
        id: UInt64, fd: Int32, inEpoll: Bool, phase: Phase, out: [UInt8], parser: HTTP1ReplyParser, deadline: UInt64, connectDeadline: UInt64,
        sink: HTTP1StreamSink? = nil
    ) {
        self.sink = sink
        self.id = id
        self.fd = fd
        self.inEpoll = inEpoll
        self.phase = phase
        self.out = out
        self.parser = parser
        self.deadline = deadline
        self.connectDeadline = connectDeadline
    }

    /// Hands the outcome to whoever waits for it (once).
    func complete(_ outcome: HTTP1Outcome) {
        if let sink {
            sink.end(outcome)
        } else {
            continuation?.resume(returning: outcome)
            continuation = nil
        }
    }
}

/// The receiving end of a streamed exchange: the head resumes the sending task, the body's pieces
/// go into the stream the caller iterates. Touched by the loop thread only once registered.
final class HTTP1StreamSink: @unchecked Sendable {
    /// The head, or the outcome when the exchange ended before one arrived.
    enum Start: Sendable {
        case head(status: Int, headers: [(String, String)])
        case ended(HTTP1Outcome)
    }

    var start: CheckedContinuation<Start, Never>?
    let body: AsyncThrowingStream<[UInt8], any Error>.Continuation
    /// Turns a failed outcome into the error the body throws.
    let failure: @Sendable (HTTP1Outcome) -> any Error
    private(set) var headSent = false
    private var decoder: HTTPBodyDecoder?
    private var ended = false

    init(body: AsyncThrowingStream<[UInt8], any Error>.Continuation, failure: @escaping @Sendable (HTTP1Outcome) -> any Error) {
        self.body = body
        self.failure = failure
    }

    func head(status: Int, headers: [(String, String)]) {
        headSent = true
        var fields = HTTPHeaders()
        for (name, value) in headers { fields.add(name: name, value: value) }
        decoder = HTTPBodyDecoder(status: status, headers: fields)
        start?.resume(returning: .head(status: status, headers: headers))
        start = nil
    }

    /// Passes body bytes on (decoded); a body that does not decode ends the exchange.
    func pass(_ bytes: [UInt8]) -> HTTP1Outcome? {
        guard !bytes.isEmpty else { return nil }
        do {
            let decoded = try decoder?.feed(bytes) ?? bytes
            if !decoded.isEmpty { body.yield(decoded) }
            return nil
        } catch {
            return .invalid(.invalid("invalid compressed body"))
        }
    }

    func end(_ outcome: HTTP1Outcome) {
        guard !ended else { return }
        ended = true
        // The decoder goes here, on the loop's thread: NIO's embedded channel inside it must be
        // finished on the thread that made it, not wherever this sink is released.
        defer { decoder = nil }
        guard headSent else {
            start?.resume(returning: .ended(outcome))
            start = nil
            body.finish()
            return
        }
        if case .reply = outcome {
            do {
                if let rest = try decoder?.finish(), !rest.isEmpty { body.yield(rest) }
                body.finish()
            } catch {
                body.finish(throwing: error)
            }
        } else {
            body.finish(throwing: failure(outcome))
        }
    }
}

/// The own client's one I/O thread: an epoll loop over the sockets of the exchanges in flight.
/// A sending task writes its request itself (most requests fit the socket buffer at once) and hands
/// the exchange over; the loop reads the reply as it arrives, resumes the task with the outcome, and
/// sweeps deadlines every 50 ms. Nothing here allocates per event beyond the reply itself.
///
/// The loop is also a `TaskExecutor`: tasks that prefer it run on its thread between its waits, so
/// a task resumed by a reply runs at once, on the thread that read it, and its next request is
/// written from there — no hand-over to another thread and back per exchange.
final class HTTP1Loop: TaskExecutor, @unchecked Sendable {
    private let epollFD: Int32
    private let wakeFD: Int32
    private let lock = NSLock()
    /// Guarded by `lock`.
    private var exchanges: [UInt64: HTTP1Exchange] = [:]
    private var cancels: [UInt64] = []
    /// Jobs of tasks that prefer this loop, run between waits (guarded by `lock`).
    private var jobs: [UnownedJob] = []
    /// Whether the loop waits (or is about to) with no job queued: an enqueued job then wakes it
    /// (guarded by `lock`).
    private var waiting = false
    /// The next exchange's id (taken without the lock the loop thread holds).
    private let nextID = Atomic<UInt64>(1)

    /// The process's loop, or `nil` when epoll is unavailable (then every request goes through `URLSession`).
    static let shared: HTTP1Loop? = HTTP1Loop()

    private init?() {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { return nil }
        let wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeFD >= 0 else {
            close(epollFD)
            return nil
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            close(epollFD)
            close(wakeFD)
            return nil
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        let thread = Thread { [self] in run() }
        thread.name = "chatbot-tester-http1"
        thread.start()
    }

    func makeID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Takes over `exchange` (its first I/O already done by the caller) and arms its socket; a cancel
    /// that came first ends it at once.
    func register(_ exchange: HTTP1Exchange) {
        // Armed under the lock, so the sweep cannot end (and close) the exchange before its socket is armed.
        var wake = false
        let failure: HTTP1Outcome? = lock.withLock {
            if exchange.cancelRequested { return .cancelled }
            exchange.registered = true
            // An idle loop waits without a timeout: wake it so it sweeps this exchange's deadline.
            wake = exchanges.isEmpty
            exchanges[exchange.id] = exchange
            var event = Self.event(for: exchange)
            if epoll_ctl(epollFD, exchange.inEpoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, exchange.fd, &event) != 0 {
                exchanges[exchange.id] = nil
                return .closed(errno: errno, received: 0)
            }
            return nil
        }
        if let failure {
            close(exchange.fd)
            exchange.complete(failure)
        } else if wake {
            self.wake()
        }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wake: Bool = lock.withLock {
            jobs.append(job)
            defer { waiting = false }
            return waiting
        }
        if wake { self.wake() }
    }

    /// Runs the jobs queued, and those they queue, for a few rounds (then the loop looks at its
    /// sockets again; what is left runs after).
    private func runJobs() {
        for _ in 0..<8 {
            let taken: [UnownedJob] = lock.withLock {
                defer { jobs.removeAll(keepingCapacity: true) }
                return jobs
            }
            if taken.isEmpty { return }
            for job in taken { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }

    private static func event(for exchange: HTTP1Exchange) -> epoll_event {
        var event = epoll_event()
        event.events = (exchange.phase == .reading ? EPOLLIN.rawValue : EPOLLOUT.rawValue) | EPOLLONESHOT.rawValue
        event.data.u64 = exchange.id
        return event
    }

    /// Asks the loop to end `exchange` with `.cancelled` (closing its connection), whatever phase it is in.
    func cancel(_ exchange: HTTP1Exchange) {
        let wake: Bool = lock.withLock {
            if exchange.registered {
                guard exchanges[exchange.id] != nil else { return false }
                cancels.append(exchange.id)
                return true
            }
            exchange.cancelRequested = true
            return false
        }
        if wake { self.wake() }
    }

    /// Re-arms the socket of an exchange the loop thread holds.
    private func arm(_ exchange: HTTP1Exchange) {
        var event = Self.event(for: exchange)
        if epoll_ctl(epollFD, EPOLL_CTL_MOD, exchange.fd, &event) != 0 {
            // Cannot happen for an open socket; end the exchange with the reason rather than wait for its deadline.
            finish([(exchange, .closed(errno: errno, received: exchange.parser.received))])
        }
    }

    /// The loop's thread (set as it starts).
    private let loopThread = Mutex<pthread_t?>(nil)

    /// Whether the caller runs on the loop's thread.
    var isLoopThread: Bool {
        loopThread.withLock { thread in thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    private func run() {
        loopThread.withLock { $0 = pthread_self() }
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        let scratchSize = 64 << 10
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchSize, alignment: 16)
        var lastSweep = HTTPClock.now()
        var active: [HTTP1Exchange] = []
        while true {
            // No wait while jobs are queued (an enqueued job wakes a wait); with exchanges in flight
            // the wait times out for the deadline sweep. One registered after this wakes the loop
            // (`register`).
            let timeout: Int32 = lock.withLock {
                if !jobs.isEmpty { return 0 }
                waiting = true
                return exchanges.isEmpty ? -1 : 50
            }
            let count = epoll_wait(epollFD, events, Int32(capacity), timeout)
            if timeout != 0 { lock.withLock { waiting = false } }
            if count < 0, errno != EINTR { continue }
            active.removeAll(keepingCapacity: true)
            lock.withLock {
                for index in 0..<Int(max(count, 0)) {
                    let id = events[index].data.u64
                    if id == 0 {
                        var value: UInt64 = 0
                        _ = Glibc.read(wakeFD, &value, 8)
                    } else if let exchange = exchanges[id] {
                        active.append(exchange)
                    }
                }
            }
            var ended: [(HTTP1Exchange, HTTP1Outcome)] = []
            for exchange in active {
                if let outcome = step(exchange, scratch: scratch, size: scratchSize) {
                    ended.append((exchange, outcome))
                }
            }
            let now = HTTPClock.now()
            let sweep = now &- lastSweep >= 50_000_000
            if sweep { lastSweep = now }
            lock.withLock {
                for id in cancels {
                    if let exchange = exchanges[id], !ended.contains(where: { $0.0 === exchange }) {
                        ended.append((exchange, .cancelled))
                    }
                }
                cancels.removeAll()
                if sweep {
                    for exchange in exchanges.values where !ended.contains(where: { $0.0 === exchange }) {
                        if exchange.phase == .connecting, now >= exchange.connectDeadline, exchange.connectDeadline < exchange.deadline {
                            ended.append((exchange, .connectTimeout))
                        } else if now >= exchange.deadline {
                            ended.append((exchange, .deadline))
                        }
                    }
                }
                for (exchange, _) in ended { exchanges[exchange.id] = nil }
            }
            finish(ended, removed: true)
            runJobs()
        }
    }

    /// Resumes the tasks of ended exchanges; a connection that cannot be reused is closed here.
    private func finish(_ ended: [(HTTP1Exchange, HTTP1Outcome)], removed: Bool = false) {
        if !removed {
            lock.withLock { for (exchange, _) in ended { exchanges[exchange.id] = nil } }
        }
        for (exchange, outcome) in ended {
            if case .reply(_, _, _, true) = outcome {} else { close(exchange.fd) }
            exchange.complete(outcome)
        }
    }

    /// Does the I/O an event allows; returns the outcome once the exchange has ended.
    private func step(_ exchange: HTTP1Exchange, scratch: UnsafeMutableRawPointer, size: Int) -> HTTP1Outcome? {
        if exchange.phase == .connecting {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(exchange.fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 { return .closed(errno: error, received: 0) }
            exchange.phase = .writing
        }
        if exchange.phase == .writing {
            switch Self.write(exchange) {
            case .done: exchange.phase = .reading
            case .wouldBlock:
                arm(exchange)
                return nil
            case .failed(let code): return .closed(errno: code, received: 0)
            }
        }
        return read(exchange, scratch: scratch, size: size)
    }

    private func read(_ exchange: HTTP1Exchange, scratch: UnsafeMutableRawPointer, size: Int) -> HTTP1Outcome? {
        while true {
            let count = recv(exchange.fd, scratch, size, 0)
            if count > 0 {
                do {
                    let progress = try exchange.parser.feed(UnsafeRawBufferPointer(start: scratch, count: count))
                    if let failure = Self.pass(exchange) { return failure }
                    if progress == .complete { return Self.reply(exchange) }
                } catch {
                    return .invalid(error)
                }
                if count < size {
                    arm(exchange)
                    return nil
                }
            } else if count == 0 {
                do {
                    let progress = try exchange.parser.finish()
                    if let failure = Self.pass(exchange) { return failure }
                    if progress == .complete { return Self.reply(exchange) }
                } catch {
                    return .invalid(error)
                }
                return .closed(errno: nil, received: exchange.parser.received)
            } else {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    arm(exchange)
                    return nil
                }
                return .closed(errno: code, received: exchange.parser.received)
            }
        }
    }

    /// A streamed exchange's head (once) and the body bytes that arrived, passed to its sink.
    private static func pass(_ exchange: HTTP1Exchange) -> HTTP1Outcome? {
        guard let sink = exchange.sink, exchange.parser.headComplete else { return nil }
        if !sink.headSent { sink.head(status: exchange.parser.status, headers: exchange.parser.headers) }
        return sink.pass(exchange.parser.takeBody())
    }

    private static func reply(_ exchange: HTTP1Exchange) -> HTTP1Outcome {
        let parser = exchange.parser
        // A streamed exchange's body went to its sink, and its connection is not reused.
        guard exchange.sink == nil else { return .reply(status: parser.status, headers: parser.headers, body: [], reusable: false) }
        return .reply(status: parser.status, headers: parser.headers, body: parser.body, reusable: parser.keepAlive && !parser.hasTrailingBytes)
    }

    enum WriteResult {
        case done
        case wouldBlock
        case failed(Int32)
    }

    /// Writes what is left of the request without blocking (never raising SIGPIPE).
    static func write(_ exchange: HTTP1Exchange) -> WriteResult {
        while exchange.written < exchange.out.count {
            let count = exchange.out.withUnsafeBytes { bytes in
                send(exchange.fd, bytes.baseAddress! + exchange.written, bytes.count - exchange.written, Int32(MSG_NOSIGNAL))
            }
            if count >= 0 {
                exchange.written += count
                continue
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            return .failed(code)
        }
        exchange.out = []
        return .done
    }
}
#endif
