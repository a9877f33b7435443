import Foundation

/// Writes at a file offset (`pwrite(2)`), whole: the one loop every positional writer of the
/// project uses (the workers' lines and report pieces, the coordinator's own lines), retrying an
/// interrupted or short write and never moving the descriptor's own offset.
public enum PositionalWrite {
    /// Writes all of `bytes` to `fd` from `offset` on; nil when every byte was written, else the
    /// `errno` of the write that failed (`EIO` for one that wrote nothing).
    public static func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at offset: Int) -> Int32? {
        var done = 0
        while done < bytes.count {
            let wrote = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if wrote < 0, errno == EINTR { continue }
            guard wrote > 0 else { return wrote < 0 ? errno : EIO }
            done += wrote
        }
        return nil
    }

    /// `write(_:to:at:)` of an array's bytes.
    public static func write(_ bytes: [UInt8], to fd: Int32, at offset: Int) -> Int32? {
        bytes.withUnsafeBytes { write($0, to: fd, at: offset) }
    }
}
