import Foundation

/// Starts the kernel's write-back of a file's dirty pages without waiting for it
/// (`sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`, Linux): a process that wrote bytes another
/// one will fsync hands them to the disk itself, so that fsync finds them written or on their way
/// instead of submitting them — the write-back's CPU is spent where the bytes were written.
/// Durability is unchanged: only an fsync makes them durable.
///
/// Made for appends: given that every byte before the range is written already, the pages that
/// are whole once the range is written are started — from the one the range begins in to the
/// last one it fills — so appends that follow each other start each page once, when it is full.
/// Elsewhere, or where the call is not there, it does nothing.
public enum WriteBack {
    /// `sync_file_range`, looked up once (Glibc's Swift module does not declare it).
    private static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
        #else
        return nil
        #endif
    }()

    /// The page size the ranges are cut to.
    private static let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))

    /// Starts the write-back of the pages of `fd` that `appended` (byte offsets, every byte before
    /// it written already) completes; whether a call was made (false: it completes no page, or
    /// there is no such call here). Errors are ignored: the fsync that follows reports them.
    @discardableResult
    public static func start(_ fd: Int32, appended range: Range<Int>) -> Bool {
        let first = range.lowerBound / pageSize * pageSize
        let end = range.upperBound / pageSize * pageSize
        guard end > first, let call = syncFileRange else { return false }
        // SYNC_FILE_RANGE_WRITE
        return call(fd, Int64(first), Int64(end - first), 2) == 0
    }
}
