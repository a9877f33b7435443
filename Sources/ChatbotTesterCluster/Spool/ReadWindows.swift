import Foundation

/// Reads byte ranges of an open file through a few windows read ahead from the first byte asked
/// (64 KiB each, the least recently used one refilled): reads that go forward through the file —
/// a merge walking a journal in dataset order, which workers wrote in about that order — cost one
/// `pread` per window instead of one per range. A range far from the others (a slow case's line
/// journaled late) takes a window of its own without evicting the one the walk is in; a range
/// larger than half a window is read on its own. Should the reads stop walking (over 64 window
/// reads in a row, fewer than two ranges served per window read: a journal in another order than
/// the walk's), every range is read on its own from then on, as without windows.
public final class ReadWindows: @unchecked Sendable {
    /// Bytes per window.
    static let windowSize = 1 << 16
    /// Windows kept.
    static let windowCount = 4

    private struct Window {
        var start = 0
        var bytes: [UInt8] = []
        var used = 0
        func holds(_ range: Range<Int>) -> Bool { range.lowerBound >= start && range.upperBound <= start + bytes.count }
    }

    private let fd: Int32
    private let lock = NSLock()
    private var windows: [Window] = []
    private var clock = 0
    /// `pread` calls made (for tests).
    private(set) var reads = 0
    /// Ranges served from a window, and windows read, since the last 64 window reads.
    private var hits = 0, refills = 0
    /// Set once windows did not pay: every range is read on its own.
    private(set) var direct = false

    /// Reads `fd` (owned by the caller, who keeps it open while this is used).
    public init(fd: Int32) {
        self.fd = fd
    }

    /// The bytes at `range`; nil when the file holds fewer bytes there or cannot be read (`errno`).
    public func read(_ range: Range<Int>) -> Data? {
        guard range.lowerBound >= 0 else { return nil }
        guard range.count <= Self.windowSize / 2 else { return readAlone(range) }
        // One lock per read: `.none` asks for a read of its own (windows were given up).
        let served: Data?? = lock.withLock {
            if direct { return .none }
            clock += 1
            if let found = windows.firstIndex(where: { $0.holds(range) }) {
                hits += 1
                windows[found].used = clock
                let window = windows[found]
                return Data(window.bytes[(range.lowerBound - window.start)..<(range.upperBound - window.start)])
            }
            refills += 1
            if refills == 64 {
                if hits < 2 * refills {
                    direct = true
                    windows = []
                }
                hits = 0
                refills = 0
            }
            var window = Window(start: range.lowerBound, bytes: [UInt8](repeating: 0, count: Self.windowSize), used: clock)
            var filled = 0
            while filled < window.bytes.count {
                let n = window.bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(range.lowerBound + filled)) }
                reads += 1
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                filled += n
                if filled >= range.count { break }
            }
            guard filled >= range.count else { return .some(nil) }
            window.bytes.removeSubrange(filled...)
            if direct {
                // Windows do not pay here: this one is not kept.
            } else if windows.count < Self.windowCount {
                windows.append(window)
            } else if let oldest = windows.indices.min(by: { windows[$0].used < windows[$1].used }) {
                windows[oldest] = window
            }
            return Data(window.bytes[0..<range.count])
        }
        guard let served else { return readAlone(range) }
        return served
    }

    private func readAlone(_ range: Range<Int>) -> Data? {
        var out = Data(count: range.count)
        var done = 0
        let complete = out.withUnsafeMutableBytes { raw -> Bool in
            while done < range.count {
                let n = pread(fd, raw.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        lock.withLock { reads += 1 }
        return complete ? out : nil
    }
}
