import ChatbotTesterCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP listener that accepts every connection and closes it at once, counting them:
/// a "server that is down" whose connection attempts a test can count (a closed port cannot count).
///
/// ```swift
/// let listener = try ClosingListener()
/// defer { listener.stop() }
/// // point a backend at listener.url …
/// #expect(listener.accepted == 12)
/// ```
public final class ClosingListener: Sendable {
    /// The bound port on 127.0.0.1.
    public let port: Int
    private let fd: Int32
    private let state = Locked((accepted: 0, stopped: false))
    private let done = DispatchSemaphore(value: 0)

    /// Binds `127.0.0.1:0` and starts accepting on a background thread.
    public init() throws {
        let (fd, port) = try LoopbackSocket.listen()
        self.fd = fd
        self.port = port
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// `http://127.0.0.1:<port>`.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Connections accepted so far.
    public var accepted: Int { state.withLock { $0.accepted } }

    /// Stops accepting and closes the socket (idempotent).
    public func stop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return }
        done.wait()
        close(fd)
    }

    deinit { stop() }

    private func acceptLoop() {
        defer { done.signal() }
        while !state.withLock({ $0.stopped }) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 20) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            state.withLock { $0.accepted += 1 }
            close(client)
        }
    }
}
