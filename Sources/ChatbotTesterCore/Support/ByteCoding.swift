import Foundation

/// Little-endian integers and length-prefixed strings in byte buffers (the cluster's report parts
/// and their side file).
public enum ByteCoding {
    /// Appends `value`, little-endian. (Inlinable, as the appends below: the cluster's modules write
    /// a few integers per record with them, and an unspecialized call reached each integer's
    /// conformance at run time.)
    @inlinable
    public static func append<T: FixedWidthInteger>(_ value: T, to out: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends `value`, little-endian.
    @inlinable
    public static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends `text` as its UTF-8 length (`UInt32`) and bytes.
    @inlinable
    public static func append(_ text: String, to out: inout [UInt8]) {
        let start = out.count
        append(UInt32(0), to: &out)
        out.append(contentsOf: text.utf8)
        let length = UInt32(out.count - start - 4).littleEndian
        withUnsafeBytes(of: length) { bytes in
            for position in 0..<4 { out[start + position] = bytes[position] }
        }
    }

    /// Calls `body` with a reader over `data`'s bytes (valid only inside `body`).
    @inlinable
    public static func read<Result>(_ data: Data, from offset: Int = 0, _ body: (inout Reader) throws -> Result) rethrows -> Result {
        try data.withUnsafeBytes { raw in
            var reader = Reader(raw, offset: offset)
            return try body(&reader)
        }
    }

    /// Reads a buffer front to back; every read returns nil past its end (and stays there).
    ///
    /// Its reads are inlinable: the cluster's modules read a report part's few fields per record
    /// with them, and a call into this module for each field cost more than the read.
    @frozen
    public struct Reader {
        /// The bytes read.
        public let raw: UnsafeRawBufferPointer
        @usableFromInline var next: Int

        /// Offset of the next byte to read.
        @inlinable public var offset: Int { next }

        /// A reader over `raw`, which must stay valid while it is used (see `ByteCoding.read`).
        @inlinable
        public init(_ raw: UnsafeRawBufferPointer, offset: Int = 0) {
            self.raw = raw
            self.next = offset
        }

        /// Bytes left.
        @inlinable public var remaining: Int { raw.count - next }

        @inlinable
        public mutating func byte() -> UInt8? {
            guard remaining >= 1 else { return nil }
            defer { next += 1 }
            return raw[next]
        }

        @inlinable public mutating func u32() -> UInt32? { integer() }

        @inlinable public mutating func u64() -> UInt64? { integer() }

        /// The next `T`, little-endian.
        @inlinable
        mutating func integer<T: FixedWidthInteger>() -> T? {
            let size = MemoryLayout<T>.size
            guard remaining >= size else { return nil }
            defer { next += size }
            return T(littleEndian: raw.loadUnaligned(fromByteOffset: next, as: T.self))
        }

        /// The next `count` bytes (valid as long as the buffer is).
        @inlinable
        public mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
            guard let range = skip(count) else { return nil }
            return UnsafeRawBufferPointer(rebasing: raw[range])
        }

        /// A string written by `ByteCoding.append(_:to:)` (nil when it is not valid UTF-8).
        public mutating func string() -> String? {
            guard let length = u32(), let bytes = bytes(Int(length)) else { return nil }
            // ASCII (the usual stop reasons, error codes and ids) needs no validation: the
            // decoding initializer takes it on its fast path.
            if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
            return String(validating: bytes, as: UTF8.self)
        }

        /// Where the next `count` bytes are, skipping them.
        @inlinable
        public mutating func skip(_ count: Int) -> Range<Int>? {
            guard count >= 0, remaining >= count else { return nil }
            defer { next += count }
            return next..<(next + count)
        }
    }
}
