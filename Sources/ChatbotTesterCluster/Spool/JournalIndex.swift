import ChatbotTesterCore
import Foundation

/// Where the kept record of each dataset index is in the journal: 16 bytes per sample, addressed
/// by the index itself, so a journal of a million records is indexed without a table of ids, a
/// sort or a list of entries (at most as many slots as the spool has samples).
///
/// Records are weighed as they come, in journal order, by the record-key rule
/// (`ClusterRecordKeys`): the first success wins, a later success replaces an earlier error,
/// nothing replaces a success.
struct JournalSlots: Sendable, Equatable {
    /// One dataset index: where its kept line is, or nothing.
    struct Slot: Sendable, Equatable {
        /// The line's offset in the journal; -1 when no record is kept for the index.
        var offset: Int64 = -1
        /// The line's length (without its newline).
        var length: UInt32 = 0
        /// The line's number (1-based) in the low 31 bits; the top bit: the record is a success.
        var lineAndStatus: UInt32 = 0

        var isEmpty: Bool { offset < 0 }
        var succeeded: Bool { lineAndStatus & 0x8000_0000 != 0 }
        var line: Int { Int(lineAndStatus & 0x7FFF_FFFF) }
        var range: Range<Int> { Int(offset)..<(Int(offset) + Int(length)) }
    }

    private(set) var slots: [Slot]
    /// How many indexes have a record kept.
    private(set) var kept = 0

    /// A table for `capacity` dataset indexes (it grows for an index beyond them).
    init(capacity: Int = 0) {
        slots = [Slot](repeating: Slot(), count: max(0, capacity))
    }

    /// Weighs the line at `range` (line number `line`) recording dataset index `index`; false
    /// (nothing kept) when the index is negative or the line does not fit a slot (a line of 4 GiB
    /// or more, which no frame carries).
    @discardableResult
    mutating func admit(index: Int, range: Range<Int>, line: Int, succeeded: Bool) -> Bool {
        weigh(index: index, range: range, line: line, succeeded: succeeded) != nil
    }

    /// `admit`, saying what the record-key rule made of the line (nil: refused, as `admit`'s false).
    mutating func weigh(index: Int, range: Range<Int>, line: Int, succeeded: Bool) -> ClusterRecordKeys.Admission? {
        guard index >= 0, range.lowerBound >= 0, let length = UInt32(exactly: range.count) else { return nil }
        if index >= slots.count {
            slots.append(contentsOf: repeatElement(Slot(), count: index + 1 - slots.count))
        }
        let existing = slots[index]
        let slot = Slot(
            offset: Int64(range.lowerBound), length: length,
            lineAndStatus: UInt32(clamping: min(line, 0x7FFF_FFFF)) | (succeeded ? 0x8000_0000 : 0))
        let admission = ClusterRecordKeys.admission(existing: existing.isEmpty ? nil : existing.succeeded, succeeded: succeeded)
        switch admission {
        case .first:
            kept += 1
            slots[index] = slot
        case .replacesError:
            slots[index] = slot
        case .duplicate:
            break
        }
        return admission
    }
}

/// The ids a manifest lists, by dataset index (a search over the shards' first indexes; the
/// manifest's own arrays are shared, not copied).
struct ManifestSampleIds: Sendable {
    private let shards: [ClusterManifest.Shard]

    init(_ manifest: ClusterManifest) {
        self.init(shards: manifest.shards)
    }

    init(shards: [ClusterManifest.Shard]) {
        self.shards = shards.sorted { $0.firstIndex < $1.firstIndex }
    }

    /// How many dataset indexes the shards cover (one past the last).
    var end: Int { shards.last.map { $0.firstIndex + $0.sampleIds.count } ?? 0 }

    /// The id listed for dataset index `index`; nil when no shard holds it.
    subscript(index: Int) -> String? {
        var low = 0, high = shards.count
        while low < high {
            let middle = (low + high) / 2
            if shards[middle].firstIndex <= index { low = middle + 1 } else { high = middle }
        }
        guard low > 0, case let shard = shards[low - 1], index - shard.firstIndex < shard.sampleIds.count else { return nil }
        return shard.sampleIds[index - shard.firstIndex]
    }
}

/// The journal's lines by sample, in dataset order (see `ClusterSpool.journalIndex()`): one kept
/// record per journaled sample, found by its dataset index.
public struct JournalIndex: Sendable {
    /// One journaled sample: its id, dataset index and where its line is.
    public struct Entry: Sendable, Hashable {
        public var sampleId: String
        public var index: Int
        /// The line's byte range in the journal file (without its newline).
        public var range: Range<Int>
        /// The line's number in the journal (1-based).
        public var line: Int
        /// Whether the record is a success (`run.status == .ok`).
        public var succeeded: Bool

        public init(sampleId: String, index: Int, range: Range<Int>, line: Int, succeeded: Bool) {
            self.sampleId = sampleId
            self.index = index
            self.range = range
            self.line = line
            self.succeeded = succeeded
        }

        /// The bytes of the `run` value and of each element of `evals` in `line` (this entry's
        /// journal line, scanned again: the index keeps only where lines are); nil when the line
        /// is not shaped like a record of this sample.
        func slices(of line: Data) -> (run: Data, evals: [Data])? {
            // The journal's own shape in one pass, any other through the checked scan
            // (`ClusterRecordEnvelope.reading`); the lean read keeps no element ranges.
            guard let envelope = try? ClusterRecordEnvelope.reading(line), envelope.sampleId == sampleId, envelope.index == index,
                let evals = envelope.evalRanges.isEmpty ? try? JSONByteScanner.elements(ofArray: line, in: envelope.evalsRange) : envelope.evalRanges
            else { return nil }
            let start = line.startIndex
            let run = line[(start + envelope.runRange.lowerBound)..<(start + envelope.runRange.upperBound)]
            guard run.first == UInt8(ascii: "{"), run.last == UInt8(ascii: "}") else { return nil }
            return (run, evals.map { line[(start + $0.lowerBound)..<(start + $0.upperBound)] })
        }
    }

    /// The kept entries in dataset order, made from the slots as they are read.
    public struct Entries: Collection, Sendable {
        let slots: JournalSlots
        let ids: ManifestSampleIds
        let reader: Reader?

        public var startIndex: Int { next(from: 0) }
        public var endIndex: Int { slots.slots.count }
        public var count: Int { slots.kept }
        public func index(after position: Int) -> Int { next(from: position + 1) }

        private func next(from position: Int) -> Int {
            var position = position
            let all = slots.slots
            while position < all.count, all[position].isEmpty { position += 1 }
            return position
        }

        public subscript(position: Int) -> Entry {
            let slot = slots.slots[position]
            // The id is the manifest's (every kept line was checked against it); one it does not
            // list yet (a spool still being written) is read from the line.
            var id = ids[position]
            if id == nil, let reader, let line = try? reader.read(slot.range, line: slot.line) {
                id = try? ClusterRecordEnvelope(scanning: line).sampleId
            }
            return Entry(sampleId: id ?? "", index: position, range: slot.range, line: slot.line, succeeded: slot.succeeded)
        }
    }

    let reader: Reader?
    let slots: JournalSlots
    let ids: ManifestSampleIds
    /// Journal lines skipped as damaged (1-based); their samples count as not journaled.
    public let damagedLines: [Int]

    init(reader: Reader?, slots: JournalSlots, ids: ManifestSampleIds, damagedLines: [Int]) {
        self.reader = reader
        self.slots = slots
        self.ids = ids
        self.damagedLines = damagedLines
    }

    /// Each journaled sample once, in dataset order.
    public var entries: Entries { Entries(slots: slots, ids: ids, reader: reader) }

    /// The bytes of `entry`'s journal line, read from the file (nothing is kept in memory).
    public func bytes(of entry: Entry) throws -> Data {
        guard let reader else { throw ChatbotTesterError(.internal, "no journal to read line \(entry.line) from") }
        return try reader.read(entry.range, line: entry.line)
    }

    /// Decodes the full record of `entry`.
    public func record(_ entry: Entry, source: String) throws -> ClusterRecord {
        let bytes = try bytes(of: entry)
        do {
            return try ClusterRecord.decode(journalLine: bytes)
        } catch {
            throw ChatbotTesterError.decoding(error, source: source, line: entry.line)
        }
    }

    /// The open journal file, read by chunks (indexing) and by line range (`pread`, safe from
    /// any thread).
    final class Reader: @unchecked Sendable {
        let url: URL
        private let fd: Int32

        /// Line reads by range (`read`), a few windows ahead: a merge reads in dataset order.
        private let windows: ReadWindows

        init(url: URL) throws {
            self.url = url
            fd = open(url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
            }
            windows = ReadWindows(fd: fd)
        }

        deinit { close(fd) }

        private func failure(_ line: Int?) -> ChatbotTesterError {
            ChatbotTesterError(.io, "cannot read \(url.path)", location: SourceLocation(source: url.path, line: line), cause: POSIXError(.init(rawValue: errno) ?? .EIO))
        }

        /// The file's size, inode and modification time.
        func stamp() throws -> JournalLog.Stamp {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw failure(nil) }
            return JournalLog.Stamp(info)
        }

        /// Calls `body` with each complete line (a torn last line is left out) and its byte range;
        /// returns the length of the complete lines (where a torn last line starts).
        @discardableResult
        func forEachLine(_ body: (Data, Range<Int>) throws -> Void) throws -> Int {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var filled = 0
            var bufferOffset = 0
            var position: off_t = 0
            while true {
                if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }  // a line longer than the buffer
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, position) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw failure(nil) }
                if n == 0 { return bufferOffset }
                position += off_t(n)
                filled += n
                var start = 0
                try buffer.withUnsafeBytes { raw in
                    let base = raw.baseAddress!
                    while start < filled, let hit = memchr(base + start, 0x0A, filled - start) {
                        let newline = base.distance(to: UnsafeRawPointer(hit))
                        try body(Data(bytes: base + start, count: newline - start), (bufferOffset + start)..<(bufferOffset + newline))
                        start = newline + 1
                    }
                }
                if start > 0 {
                    buffer.withUnsafeMutableBytes { raw in _ = memmove(raw.baseAddress!, raw.baseAddress! + start, filled - start) }
                    filled -= start
                    bufferOffset += start
                }
            }
        }

        /// The bytes at `range` of the file (through `ReadWindows`: the file is only appended to,
        /// and a reader is made for each index, so what a window holds stays what the file holds).
        func read(_ range: Range<Int>, line: Int) throws -> Data {
            guard let bytes = windows.read(range) else { throw failure(line) }
            return bytes
        }
    }
}

/// The journal's index kept in memory: seeded by a scan of the journal (`journalIndex()`, which
/// a coordinator's resume does before it appends anything) and extended by the coordinator with
/// each line it appends, so the merge that follows does not scan the journal again. It is used
/// only once the coordinator has closed the journal and sealed the log (`seal(_:)`: the file's
/// size is the length the log covers), and only while the file is as it was sealed (size, inode,
/// modification time); anything else — an edit, another writer, a failed append — leaves the
/// merge to scan. Lines are weighed as they are appended (`JournalSlots`): the log is 16 bytes
/// per sample of the spool, however many records the journal holds.
final class JournalLog: @unchecked Sendable {
    /// What identifies a file's state: size, inode, modification time.
    struct Stamp: Equatable {
        var size: Int
        var inode: UInt64
        var seconds: Int
        var nanoseconds: Int

        init(_ info: stat) {
            size = Int(info.st_size)
            inode = UInt64(info.st_ino)
            seconds = Int(info.st_mtim.tv_sec)
            nanoseconds = Int(info.st_mtim.tv_nsec)
        }
    }

    private let lock = NSLock()
    /// The kept line of each dataset index: the scan's, then weighed with each line appended since.
    private var slots = JournalSlots()
    private var damaged: [Int] = []
    private var lines = 0
    /// Bytes of the journal covered; nil before a scan (or after a failed append).
    private var length: Int?
    /// The journal as the coordinator left it: the log is used only for that file.
    private var sealed: Stamp?

    func seed(slots: JournalSlots, lines: Int, length: Int, damaged: [Int]) {
        lock.withLock {
            self.slots = slots
            self.lines = lines
            self.length = length
            self.damaged = damaged
            sealed = nil
        }
    }

    /// Marks the log complete for the journal at `url` as it is now (closed by the coordinator),
    /// when the file's size is the length the log covers.
    func seal(_ url: URL) {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return }
        let stamp = Stamp(info)
        lock.withLock { sealed = length == stamp.size ? stamp : nil }
    }

    /// Records a line just appended to the journal: `envelope`'s bytes and a newline.
    func appended(_ envelope: ClusterRecordEnvelope) {
        appended(envelope, count: envelope.bytes.count)
    }

    /// Records a line of `count` bytes and a newline just appended to the journal for `envelope`
    /// (its sample put back: `ClusterRecordEnvelope.splicedShape(sampleCount:)` gives the line's
    /// length).
    func appended(_ envelope: ClusterRecordEnvelope, count: Int) {
        lock.withLock {
            guard let start = length else { return }
            sealed = nil
            lines += 1
            length = start + count + 1
            if !slots.admit(index: envelope.index, range: start..<(start + count), line: lines, succeeded: envelope.status == .ok) {
                length = nil  // not indexable: the merge scans
                slots = JournalSlots()
            }
        }
    }

    /// Forgets what was kept and keeps nothing more until the next scan seeds it again (an append
    /// failed: the file may not be what the log says; or the coordinator keeps no index).
    func invalidate() {
        lock.withLock {
            length = nil
            sealed = nil
            slots = JournalSlots()
        }
    }

    /// The index of the journal whose state is `stamp`, when the log was sealed on exactly that.
    func index(of stamp: Stamp) -> (slots: JournalSlots, damaged: [Int])? {
        lock.withLock {
            guard let sealed, sealed == stamp else { return nil }
            return (slots, damaged)
        }
    }
}
