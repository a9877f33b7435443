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
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ChatbotTesterError(.io, "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Bool in
                bind(fd, raw, length) == 0 && listen(fd, 128) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw ChatbotTesterError(.io, "cannot listen on 127.0.0.1: errno \(errno)")
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
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
