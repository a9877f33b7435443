import ChatbotTesterCore
import Foundation

/// The report parts of journaled records (`ClusterReportPart`), kept by the coordinator in a side
/// file next to the journal, `journal.parts`: the merge feeds them to the reports instead of
/// decoding each record (`ClusterReportParts`).
///
/// The file is `CTPARTS1` then one entry per journaled record that came with a part:
/// `[u32 part length][u64 journal offset of the record's line][u32 the line's length][part]`
/// (little-endian), in journal order. Entries are written through a buffer (no fsync of their
/// own): the side file is an index of what the journal holds, never the only copy of anything.
/// Whatever a crash leaves — a torn or missing tail, a missing file, entries of journal lines a
/// crash lost — costs only the decode the merge does without a part: when a coordinator opens
/// the file to append, it keeps the entries whose lines the journal (its torn tail cut) still
/// holds and cuts the rest; the merge uses an entry only when its journal offset, line length,
/// sample id and index are those of the line it merges (an older journal, with no side file,
/// merges by decoding every record).
public final class ClusterReportPartsLog: @unchecked Sendable {
    /// The side file's name in the spool directory.
    public static let fileName = "journal.parts"
    static let magic = Array("CTPARTS1".utf8)
    static let entryHead = 16

    private let lock = NSLock()
    private var fd: Int32 = -1
    private var url: URL?
    private var buffer: [UInt8] = []
    /// The journal offset of the next line appended (nil: not open, or given up).
    private var next: Int?

    public init() {}

    /// Opens `spool`'s side file to append to, for a coordinator about to append to its journal
    /// (opened already, so its torn tail is cut): entries of lines past the journal's end are cut.
    /// A side file that cannot be opened is given up (the merge then decodes).
    public func open(spool directory: URL, journal: URL) {
        let url = directory.appendingPathComponent(Self.fileName)
        var info = stat()
        let journalLength = stat(journal.path, &info) == 0 ? Int(info.st_size) : 0
        lock.withLock {
            self.url = url
            let keep = FileManager.default.fileExists(atPath: url.path) ? Self.validLength(url, journalLength: journalLength) : 0
            let fd = Foundation.open(url.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            var ok = ftruncate(fd, off_t(keep)) == 0 && lseek(fd, off_t(keep), SEEK_SET) == off_t(keep)
            if ok, keep == 0 { ok = Self.magic.withUnsafeBytes { FileJournal.writeAll(fd, $0) } }
            guard ok else {
                Foundation.close(fd)
                try? FileManager.default.removeItem(at: url)
                return
            }
            self.fd = fd
            next = journalLength
        }
    }

    /// Records a line just appended to the journal (`envelope`'s bytes and a newline), with its
    /// report part when it has one.
    public func appended(_ envelope: ClusterRecordEnvelope) {
        appended(envelope, count: envelope.bytes.count)
    }

    /// Records a line of `count` bytes and a newline just appended to the journal for `envelope`
    /// (its sample put back: `ClusterRecordEnvelope.splicedShape(sampleCount:)`).
    public func appended(_ envelope: ClusterRecordEnvelope, count: Int) {
        lock.withLock {
            guard let offset = next else { return }
            next = offset + count + 1
            guard let part = envelope.reportPart else { return }
            ByteCoding.append(UInt32(part.count), to: &buffer)
            ByteCoding.append(UInt64(offset), to: &buffer)
            ByteCoding.append(UInt32(count), to: &buffer)
            part.withUnsafeBytes { buffer.append(contentsOf: $0) }
            if buffer.count >= 1 << 18 { flush() }
        }
    }

    /// Gives the side file up (an append to the journal failed: offsets are no longer known).
    public func invalidate() {
        lock.withLock {
            next = nil
            buffer = []
            if fd >= 0 { Foundation.close(fd) }
            fd = -1
            if let url { try? FileManager.default.removeItem(at: url) }
        }
    }

    /// Writes what is buffered and closes the file (fsync'd).
    public func close() {
        lock.withLock {
            guard fd >= 0 else { return }
            flush()
            if fd >= 0 {
                _ = fsync(fd)
                Foundation.close(fd)
            }
            fd = -1
            next = nil
        }
    }

    /// Writes the buffer; on failure the file is given up.
    private func flush() {
        guard fd >= 0, !buffer.isEmpty else { return }
        let ok = buffer.withUnsafeBytes { FileJournal.writeAll(fd, $0) }
        buffer.removeAll(keepingCapacity: true)
        guard !ok else { return }
        next = nil
        Foundation.close(fd)
        fd = -1
        if let url { try? FileManager.default.removeItem(at: url) }
    }

    /// The length of the side file's leading entries whose lines lie within a journal of
    /// `journalLength` bytes (0 when the file is not a side file).
    static func validLength(_ url: URL, journalLength: Int) -> Int {
        var valid = 0
        _ = forEachEntry(of: url) { entry in
            guard entry.journalOffset + entry.lineLength < journalLength else { return false }
            valid = entry.end
            return true
        }
        return valid
    }

    /// One entry of a side file.
    struct Entry: Sendable {
        var journalOffset: Int
        var lineLength: Int
        /// Where the part is in the file.
        var part: Range<Int>
        /// Where the entry ends in the file.
        var end: Int { part.upperBound }
    }

    /// An entry's head (`entryHead` bytes): its part's length, its line's journal offset and length.
    static func readHead(_ raw: UnsafeRawBufferPointer) -> (partLength: Int, journalOffset: UInt64, lineLength: Int) {
        (
            Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))),
            UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self)),
            Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        )
    }

    /// Calls `body` with each complete entry of the side file at `url`, in file order, until it
    /// returns false; returns false when the file cannot be read or is not a side file. The file
    /// is read by chunks and only the entries' heads are looked at (parts are skipped): a
    /// million-record side file is never in memory, mapped or not.
    @discardableResult
    static func forEachEntry(of url: URL, _ body: (Entry) -> Bool) -> Bool {
        let fd = Foundation.open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Foundation.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        let size = Int(info.st_size)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { chunk.deallocate() }
        var chunkStart = 0, chunkCount = 0
        /// The `count` bytes at `offset` (within the file), reading a new chunk from there when
        /// the current one does not hold them; nil past the end of what can be read.
        func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
            if offset < chunkStart || offset + count > chunkStart + chunkCount {
                let read = pread(fd, chunk.baseAddress, chunk.count, off_t(offset))
                guard read >= 0 else { return nil }
                chunkStart = offset
                chunkCount = read
                guard count <= read else { return nil }
            }
            return UnsafeRawBufferPointer(rebasing: chunk[(offset - chunkStart)..<(offset - chunkStart + count)])
        }
        guard let head = bytes(at: 0, count: magic.count), head.elementsEqual(magic) else { return false }
        var offset = magic.count
        while offset + entryHead <= size, let raw = bytes(at: offset, count: entryHead) {
            let (length, journalOffset, line) = readHead(raw)
            let part = (offset + entryHead)..<(offset + entryHead + length)
            guard part.upperBound <= size, journalOffset < UInt64(Int.max) else { break }
            guard body(Entry(journalOffset: Int(journalOffset), lineLength: line, part: part)) else { break }
            offset = part.upperBound
        }
        return true
    }
}

/// The side file's parts read forward, in journal order, alongside a scan of the journal (a
/// resume's one pass: `ClusterSpool.resumeState`): each line asks for the part of its offset, and
/// the file is read through windows ahead (`ReadWindows`), never an entry twice. An entry out of
/// journal order (never written by a coordinator, which only appends) is not found; the caller
/// then reads the line's run.
final class ClusterReportPartsCursor {
    private let fd: Int32
    private let windows: ReadWindows
    private var offset = ClusterReportPartsLog.magic.count

    /// The side file of the spool in `directory`; nil when there is none or it is not one.
    init?(spool directory: URL) {
        let fd = Foundation.open(directory.appendingPathComponent(ClusterReportPartsLog.fileName).path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.fd = fd
        windows = ReadWindows(fd: fd)
        guard windows.read(0..<ClusterReportPartsLog.magic.count) == Data(ClusterReportPartsLog.magic) else { return nil }
    }

    deinit { Foundation.close(fd) }

    /// The part of the journal line at `journalOffset` of `lineLength` bytes recording sample
    /// `sampleId` at `index`, when the next entries hold it; entries of earlier lines are passed.
    func part(journalOffset: Int, lineLength: Int, sampleId: String, index: Int) -> Data? {
        let head = ClusterReportPartsLog.entryHead
        while let raw = windows.read(offset..<(offset + head)) {
            let (length, entryOffset, line) = raw.withUnsafeBytes { ClusterReportPartsLog.readHead($0) }
            guard entryOffset <= UInt64(journalOffset) else { return nil }
            let part = (offset + head)..<(offset + head + length)
            offset = part.upperBound
            guard entryOffset == UInt64(journalOffset) else { continue }
            guard line == lineLength, let bytes = windows.read(part), ClusterReportPart.body(of: bytes, sampleId: sampleId, index: index) != nil else {
                return nil
            }
            return bytes
        }
        return nil
    }
}

/// The report parts of a spool's journal as the merge reads them: where each journal line's part
/// is in the side file (see `ClusterReportPartsLog`), 24 bytes per part sorted by journal
/// offset, and the part itself read from the file (`pread`) when the merge asks for it — neither
/// the file nor a table of its entries keyed by hash is held.
public struct ClusterReportParts: Sendable {
    /// One entry, compact: the journal line it belongs to and where its part is in the side file.
    private struct Slot: Sendable {
        var journalOffset: UInt64
        var partOffset: UInt64
        var partLength: UInt32
        var lineLength: UInt32
    }

    /// The open side file (closed with the last copy of this value).
    private final class File: Sendable {
        let fd: Int32
        /// Parts read by range a few windows ahead: the merge asks in dataset order.
        private let windows: ReadWindows
        init(fd: Int32) {
            self.fd = fd
            windows = ReadWindows(fd: fd)
        }
        deinit { Foundation.close(fd) }

        func read(_ range: Range<Int>) -> Data? {
            windows.read(range)
        }
    }

    private let file: File?
    private let slots: [Slot]
    /// With an index (`init(spool:keeping:)`): where each dataset index's part is in the side
    /// file (0: none) and its length, and the journal's slots the parts were matched with.
    private let partOffsets: [UInt64]
    private let partLengths: [UInt32]
    private let kept: JournalSlots?

    /// The parts of the spool in `directory`; empty when it has no side file (an older journal,
    /// or an indexed run's merge) or the file is not one.
    public init(spool directory: URL) {
        let url = directory.appendingPathComponent(ClusterReportPartsLog.fileName)
        var slots: [Slot] = []
        var sorted = true
        var info = stat()
        let fileSize = stat(url.path, &info) == 0 ? Int(info.st_size) : 0
        let readable = ClusterReportPartsLog.forEachEntry(of: url) { entry in
            guard let partLength = UInt32(exactly: entry.part.count), let lineLength = UInt32(exactly: entry.lineLength) else { return false }
            if slots.isEmpty {
                // Sized from the first entry (parts of one run are about the same size), with an
                // eighth to spare: the array is not regrown (and briefly held twice) a dozen times.
                let estimate = fileSize / max(1, ClusterReportPartsLog.entryHead + entry.part.count)
                slots.reserveCapacity(estimate + estimate / 8 + 16)
            }
            let slot = Slot(journalOffset: UInt64(entry.journalOffset), partOffset: UInt64(entry.part.lowerBound), partLength: partLength, lineLength: lineLength)
            if let last = slots.last, last.journalOffset >= slot.journalOffset { sorted = false }
            slots.append(slot)
            return true
        }
        partOffsets = []
        partLengths = []
        kept = nil
        let fd = readable ? Foundation.open(url.path, O_RDONLY | O_CLOEXEC) : -1
        guard fd >= 0 else {
            file = nil
            self.slots = []
            return
        }
        // A journal is only appended to, so its offsets come in order; should they not, the
        // last entry for an offset wins, as a table keyed by it would keep.
        if !sorted {
            slots = slots.enumerated().sorted { ($0.element.journalOffset, $0.offset) < ($1.element.journalOffset, $1.offset) }.map(\.element)
            var kept: [Slot] = []
            for slot in slots {
                if let last = kept.last, last.journalOffset == slot.journalOffset { kept[kept.count - 1] = slot } else { kept.append(slot) }
            }
            slots = kept
        }
        file = File(fd: fd)
        self.slots = slots
    }

    /// The parts of the lines `index` keeps, and only those: 12 bytes per sample of the spool,
    /// addressed by dataset index (a table keyed by journal offset takes 24 bytes per part of every
    /// line, kept or not). The side file's entries, in journal order, are matched with the kept
    /// lines sorted by offset (4 bytes a line while it is built); an entry whose offset or line
    /// length is not a kept line's is left out. Entries out of journal order (never written by a
    /// coordinator, which only appends) give the keyed table of `init(spool:)` instead.
    public init(spool directory: URL, keeping index: JournalIndex) {
        let url = directory.appendingPathComponent(ClusterReportPartsLog.fileName)
        let all = index.slots.slots
        guard all.count <= Int(UInt32.max) else {
            self = ClusterReportParts(spool: directory)
            return
        }
        var order = all.indices.filter { !all[$0].isEmpty }.map { UInt32(truncatingIfNeeded: $0) }
        order.sort { all[Int($0)].offset < all[Int($1)].offset }
        var offsets = [UInt64](repeating: 0, count: all.count)
        var lengths = [UInt32](repeating: 0, count: all.count)
        var next = 0
        var lastOffset = -1
        var sorted = true
        let readable = ClusterReportPartsLog.forEachEntry(of: url) { entry in
            guard entry.journalOffset >= lastOffset, let length = UInt32(exactly: entry.part.count) else {
                sorted = false
                return false
            }
            lastOffset = entry.journalOffset
            while next < order.count, all[Int(order[next])].offset < Int64(entry.journalOffset) { next += 1 }
            // Equal offsets: the later entry wins, as in a table keyed by offset.
            if next < order.count, case let position = Int(order[next]), all[position].offset == Int64(entry.journalOffset),
                Int(all[position].length) == entry.lineLength
            {
                offsets[position] = UInt64(entry.part.lowerBound)
                lengths[position] = length
            }
            return true
        }
        order = []
        guard sorted else {
            self = ClusterReportParts(spool: directory)
            return
        }
        let fd = readable ? Foundation.open(url.path, O_RDONLY | O_CLOEXEC) : -1
        file = fd >= 0 ? File(fd: fd) : nil
        slots = []
        partOffsets = fd >= 0 ? offsets : []
        partLengths = fd >= 0 ? lengths : []
        kept = fd >= 0 ? index.slots : nil
    }

    /// How many parts the side file holds (with an index: how many of its kept lines have one).
    public var count: Int { kept == nil ? slots.count : partOffsets.lazy.filter { $0 != 0 }.count }

    /// The body of the part kept for the journal line at `range` (`JournalIndex.Entry.range`),
    /// when there is one and it names `sampleId` at `index` (see `ClusterReportPart`); nil
    /// otherwise (the caller decodes the record).
    public func body(line range: Range<Int>, sampleId: String, index: Int) -> Data? {
        guard let (part, body) = located(line: range, sampleId: sampleId, index: index) else { return nil }
        return part[(part.startIndex + body.lowerBound)..<(part.startIndex + body.upperBound)]
    }

    /// The whole part (head, facts and body: what `ClusterRecordEnvelope.reportPart` holds) kept
    /// for the journal line at `range`, when there is one and it names `sampleId` at `index`.
    public func part(line range: Range<Int>, sampleId: String, index: Int) -> Data? {
        located(line: range, sampleId: sampleId, index: index)?.part
    }

    /// The part and where its body is in it.
    private func located(line range: Range<Int>, sampleId: String, index: Int) -> (part: Data, body: Range<Int>)? {
        guard let file, range.lowerBound >= 0 else { return nil }
        if let kept {
            guard partOffsets.indices.contains(index), partOffsets[index] != 0, kept.slots[index].range == range,
                case let start = Int(partOffsets[index]), let part = file.read(start..<(start + Int(partLengths[index]))),
                let body = ClusterReportPart.body(of: part, sampleId: sampleId, index: index)
            else { return nil }
            return (part, body)
        }
        let target = UInt64(range.lowerBound)
        var low = 0, high = slots.count
        while low < high {
            let middle = (low + high) / 2
            if slots[middle].journalOffset < target { low = middle + 1 } else { high = middle }
        }
        guard low < slots.count, case let slot = slots[low], slot.journalOffset == target, Int(slot.lineLength) == range.count,
            let part = file.read(Int(slot.partOffset)..<(Int(slot.partOffset) + Int(slot.partLength))),
            let body = ClusterReportPart.body(of: part, sampleId: sampleId, index: index)
        else { return nil }
        return (part, body)
    }
}
