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
        guard let data = try? Data(contentsOf: url, options: .alwaysMapped) else { return 0 }
        var valid = 0
        _ = forEachEntry(data) { entry in
            guard entry.journalOffset + entry.lineLength < journalLength else { return false }
            valid = entry.end
            return true
        }
        return valid
    }

    /// One entry of a side file.
    struct Entry {
        var journalOffset: Int
        var lineLength: Int
        /// Where the part is in the file.
        var part: Range<Int>
        /// Where the entry ends in the file.
        var end: Int { part.upperBound }
    }

    /// Calls `body` with each complete entry of `data` (a side file) until it returns false;
    /// returns false when `data` is not a side file.
    @discardableResult
    static func forEachEntry(_ data: Data, _ body: (Entry) -> Bool) -> Bool {
        guard data.starts(with: magic) else { return false }
        ByteCoding.read(data, from: magic.count) { reader in
            while reader.remaining >= entryHead {
                guard let length = reader.u32(), let offset = reader.u64(), let line = reader.u32(), let part = reader.skip(Int(length)),
                    offset < UInt64(Int.max)
                else { break }
                guard body(Entry(journalOffset: Int(offset), lineLength: Int(line), part: part)) else { break }
            }
        }
        return true
    }
}

/// The report parts of a spool's journal as the merge reads them: the side file mapped, and
/// where each journal line's part is (see `ClusterReportPartsLog`).
public struct ClusterReportParts: Sendable {
    private let data: Data
    private let entries: [Int: ClusterReportPartsLog.Entry]

    /// The parts of the spool in `directory`; empty when it has no side file (an older journal,
    /// or an indexed run's merge) or the file is not one.
    public init(spool directory: URL) {
        let url = directory.appendingPathComponent(ClusterReportPartsLog.fileName)
        guard let data = try? Data(contentsOf: url, options: .alwaysMapped) else {
            self.data = Data()
            entries = [:]
            return
        }
        var entries: [Int: ClusterReportPartsLog.Entry] = [:]
        ClusterReportPartsLog.forEachEntry(data) { entry in
            entries[entry.journalOffset] = entry
            return true
        }
        self.data = data
        self.entries = entries
    }

    /// How many parts the side file holds.
    public var count: Int { entries.count }

    /// The body of the part kept for the journal line at `range` (`JournalIndex.Entry.range`),
    /// when there is one and it names `sampleId` at `index` (see `ClusterReportPart`); nil
    /// otherwise (the caller decodes the record).
    public func body(line range: Range<Int>, sampleId: String, index: Int) -> Data? {
        guard let entry = entries[range.lowerBound], entry.lineLength == range.count else { return nil }
        let part = data[(data.startIndex + entry.part.lowerBound)..<(data.startIndex + entry.part.upperBound)]
        guard let body = ClusterReportPart.body(of: part, sampleId: sampleId, index: index) else { return nil }
        return part[(part.startIndex + body.lowerBound)..<(part.startIndex + body.upperBound)]
    }
}
