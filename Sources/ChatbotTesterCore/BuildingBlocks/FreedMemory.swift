#if canImport(Glibc)
import Glibc
#endif

/// Hands the pages of freed heap memory back to the system. glibc keeps them resident after a
/// large table is freed (the dataset pass's id set, a run's per-case tables), so a phase that
/// follows would otherwise peak on top of them instead of with its own.
public enum FreedMemory {
    /// Calls glibc's `malloc_trim(0)` (looked up once: it is in <malloc.h>, outside the Glibc
    /// module); does nothing elsewhere. Takes the allocator's locks briefly: call it between
    /// phases, not per record.
    public static func release() {
        #if canImport(Glibc)
        typealias Trim = @convention(c) (Int) -> Int32
        if let trim = mallocTrim { _ = unsafeBitCast(trim, to: Trim.self)(0) }
        #endif
    }

    #if canImport(Glibc)
    nonisolated(unsafe) private static let mallocTrim: UnsafeMutableRawPointer? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim")
    #endif
}
