import Foundation

/// Little-endian integers and length-prefixed strings in byte buffers (the cluster's report parts
/// and their side file).
public enum ByteCoding {
    /// Appends `value`, little-endian.
    public static func append(_ value: UInt32, to out: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends `value`, little-endian.
    public static func append(_ value: UInt64, to out: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends `value`, little-endian.
    public static func append(_ value: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends `value`, little-endian.
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends `text` as its UTF-8 length (`UInt32`) and bytes.
    public static func append(_ text: String, to out: inout [UInt8]) {
        let start = out.count
        append(UInt32(0), to: &out)
        out.append(contentsOf: text.utf8)
        let length = UInt32(out.count - start - 4).littleEndian
        withUnsafeBytes(of: length) { bytes in
            for position in 0..<4 { out[start + position] = bytes[position] }
        }
    }

    /// Reads a buffer front to back; every read returns nil past its end (and stays there).
    public struct Reader {
        let data: Data
        /// Offset of the next byte to read, from `data.startIndex`.
        public private(set) var offset = 0

        public init(_ data: Data, offset: Int = 0) {
            self.data = data
            self.offset = offset
        }

        /// Bytes left.
        public var remaining: Int { data.count - offset }

        public mutating func byte() -> UInt8? {
            guard remaining >= 1 else { return nil }
            defer { offset += 1 }
            return data[data.startIndex + offset]
        }

        public mutating func u32() -> UInt32? {
            guard remaining >= 4 else { return nil }
            var value: UInt32 = 0
            let start = data.startIndex + offset
            for position in 0..<4 { value |= UInt32(data[start + position]) << (8 * position) }
            offset += 4
            return value
        }

        public mutating func u64() -> UInt64? {
            guard remaining >= 8 else { return nil }
            var value: UInt64 = 0
            let start = data.startIndex + offset
            for position in 0..<8 { value |= UInt64(data[start + position]) << (8 * position) }
            offset += 8
            return value
        }

        /// The next `count` bytes, as a slice of the buffer.
        public mutating func bytes(_ count: Int) -> Data? {
            guard count >= 0, remaining >= count else { return nil }
            let start = data.startIndex + offset
            offset += count
            return data[start..<(start + count)]
        }

        /// A string written by `ByteCoding.append(_:to:)` (nil when it is not valid UTF-8).
        public mutating func string() -> String? {
            guard let length = u32(), let bytes = bytes(Int(length)) else { return nil }
            return String(validating: bytes, as: UTF8.self)
        }

        /// Where the next `count` bytes are (offsets from `data.startIndex`), skipping them.
        public mutating func skip(_ count: Int) -> Range<Int>? {
            guard count >= 0, remaining >= count else { return nil }
            defer { offset += count }
            return offset..<(offset + count)
        }
    }
}
