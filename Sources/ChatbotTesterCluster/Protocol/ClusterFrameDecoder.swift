import Foundation
import ChatbotTesterCore

/// Length-prefixed framing: a 4-byte big-endian payload length, then the payload.
///
/// A pure byte accumulator: feed it whatever the socket delivered and take out complete payloads.
/// A length above `maxFrameSize` is a protocol violation that ends the connection (the caller
/// closes it with the error's reason), never the process.
public struct ClusterFrameDecoder: Sendable {
    /// The default cap on one frame's payload: 16 MiB.
    public static let defaultMaxFrameSize = 16 << 20

    public let maxFrameSize: Int
    private var buffer: [UInt8] = []
    private var start = 0

    public init(maxFrameSize: Int = ClusterFrameDecoder.defaultMaxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    /// Bytes held that do not yet form a complete frame.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Appends bytes and returns every complete payload in them, in order.
    /// - Throws: `ChatbotTesterError(.proto)` when a frame announces more than `maxFrameSize` bytes.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws -> [Data] {
        guard start == buffer.count, let base = bytes.baseAddress else {
            buffer.append(contentsOf: bytes)
            return try drain()
        }
        // Nothing held: the frames wholly inside `bytes` are copied out of them once, and only
        // the rest is kept.
        buffer.removeAll(keepingCapacity: true)
        start = 0
        var frames: [Data] = []
        var offset = 0
        while bytes.count - offset >= 4 {
            let length = Self.length(at: base + offset)
            guard length <= maxFrameSize else {
                throw ChatbotTesterError(.proto, "frame of \(length) bytes exceeds the maximum of \(maxFrameSize)")
            }
            guard bytes.count - offset - 4 >= length else { break }
            frames.append(Data(bytes: base + offset + 4, count: length))
            offset += 4 + length
        }
        if offset < bytes.count { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...])) }
        return frames
    }

    /// The big-endian length prefix at `pointer`.
    private static func length(at pointer: UnsafeRawPointer) -> Int {
        Int(pointer.load(fromByteOffset: 0, as: UInt8.self)) << 24 | Int(pointer.load(fromByteOffset: 1, as: UInt8.self)) << 16
            | Int(pointer.load(fromByteOffset: 2, as: UInt8.self)) << 8 | Int(pointer.load(fromByteOffset: 3, as: UInt8.self))
    }

    /// Appends bytes and returns every complete payload in them, in order.
    public mutating func feed(_ data: Data) throws -> [Data] {
        try data.withUnsafeBytes { try feed($0) }
    }

    private mutating func drain() throws -> [Data] {
        var frames: [Data] = []
        while buffer.count - start >= 4 {
            let length = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
            guard length <= maxFrameSize else {
                throw ChatbotTesterError(.proto, "frame of \(length) bytes exceeds the maximum of \(maxFrameSize)")
            }
            guard buffer.count - start - 4 >= length else { break }
            frames.append(Data(buffer[(start + 4)..<(start + 4 + length)]))
            start += 4 + length
        }
        if start > 0 && (start == buffer.count || start > 1 << 16) {
            buffer.removeFirst(start)
            start = 0
        }
        return frames
    }

    /// Appends the frame of `payload` (length prefix + bytes) to `output`.
    public static func appendFrame(_ payload: Data, to output: inout Data) {
        let length = UInt32(payload.count)
        output.append(contentsOf: [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)])
        output.append(payload)
    }

    /// The frame of `payload`.
    public static func frame(_ payload: Data) -> Data {
        var output = Data(capacity: payload.count + 4)
        appendFrame(payload, to: &output)
        return output
    }
}
