import Foundation

/// One framed, bidirectional connection between a coordinator and a worker.
///
/// The libuv Unix-socket transport (`ChatbotTesterClusterUV`) is one implementation; tests may use
/// others. Payloads are whole frames (the transport does the length prefix and the size cap).
public protocol ClusterConnection: AnyObject, Sendable {
    /// Who is on the other side, for logs and errors (`pid 1234 uid 0`, a path…).
    var peerDescription: String { get }
    /// The next frame payload, or `nil` once the connection is closed (EOF, error, violation).
    /// Reading is paused while too many frames wait here unread (back-pressure).
    func receive() async -> Data?
    /// Queues payloads for sending, in order, without waiting. Safe from any thread.
    func enqueue(_ payloads: [Data])
    /// Waits until the send queue is below its high watermark (returns at once if closed).
    func waitUntilWritable() async
    /// Closes the connection; `reason` (a protocol violation) is kept in `closeReason`.
    func close(reason: String?)
    /// Why the connection was closed, when it was for a violation or an error.
    var closeReason: String? { get }
}

extension ClusterConnection {
    /// Queues one payload and waits while the send queue is above its high watermark.
    public func send(_ payload: Data) async {
        enqueue([payload])
        await waitUntilWritable()
    }

    /// The incoming frames as an `AsyncSequence`.
    public var frames: ClusterFrames { ClusterFrames(connection: self) }
}

/// The frames a connection receives, ending when it closes.
public struct ClusterFrames: AsyncSequence, Sendable {
    public typealias Element = Data
    let connection: any ClusterConnection

    public struct AsyncIterator: AsyncIteratorProtocol {
        let connection: any ClusterConnection
        public mutating func next() async -> Data? { await connection.receive() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(connection: connection) }
}

/// Accepts connections (a listening socket).
public protocol ClusterListener: AnyObject, Sendable {
    /// The next accepted connection, or `nil` once the listener is closed.
    func accept() async -> (any ClusterConnection)?
    /// Stops listening.
    func close()
}
