import ChatbotTesterCore
import Foundation

/// One piece of a source document, the grounding of the cases synthesized from it.
public struct DocumentChunk: Sendable, Hashable {
    /// The document path as written in the config.
    public var source: String
    /// 0-based position in the document.
    public var index: Int
    public var text: String

    public init(source: String, index: Int, text: String) {
        self.source = source
        self.index = index
        self.text = text
    }
}

/// Splits documents into chunks along paragraphs, packing paragraphs up to a target size, splitting
/// longer ones at word boundaries, and repeating the tail of each chunk at the start of the next.
public struct DocumentChunker: Sendable {
    /// Target chunk size in characters.
    public var size: Int
    /// Characters of the previous chunk repeated at the start of the next.
    public var overlap: Int

    public init(size: Int = 1500, overlap: Int = 200) {
        self.size = max(size, 1)
        self.overlap = min(max(overlap, 0), max(size - 1, 0))
    }

    /// The chunks of `text`, in order.
    public func chunks(of text: String) -> [String] {
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n")
        var pieces: [String] = []
        for paragraph in Self.paragraphs(normalized) {
            if paragraph.count <= size {
                pieces.append(paragraph)
            } else {
                pieces.append(contentsOf: Self.pack(words: paragraph.split(whereSeparator: \.isWhitespace).map(String.init), size: size))
            }
        }
        var chunks: [String] = []
        var current = ""
        for piece in pieces {
            if current.isEmpty {
                current = piece
                continue
            }
            let joined = current + "\n\n" + piece
            if joined.count <= size {
                current = joined
                continue
            }
            chunks.append(current)
            let tail = Self.tail(of: current, length: overlap)
            current = tail.isEmpty ? piece : tail + "\n\n" + piece
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// Reads and chunks a document.
    /// - Parameters:
    ///   - path: as written in the config; kept in each chunk's `source`.
    ///   - field: named in the error when the file cannot be read.
    public func load(_ path: String, baseDirectory: URL?, field: String) throws -> [DocumentChunk] {
        let url = Self.resolve(path, against: baseDirectory)
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ChatbotTesterError(.io, "cannot read document \(url.path)", location: SourceLocation(field: field), cause: error)
        }
        return chunks(of: text).enumerated().map { DocumentChunk(source: path, index: $0.offset, text: $0.element) }
    }

    /// `path` as a URL, relative paths resolved against `baseDirectory` (or the working directory).
    public static func resolve(_ path: String, against baseDirectory: URL?) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        if let baseDirectory { return baseDirectory.appendingPathComponent(path) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
    }

    static func paragraphs(_ text: String) -> [String] {
        var paragraphs: [String] = []
        var lines: [Substring] = []
        func flush() {
            let paragraph = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            if !paragraph.isEmpty { paragraphs.append(paragraph) }
            lines.removeAll()
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy(\.isWhitespace) { flush() } else { lines.append(line) }
        }
        flush()
        return paragraphs
    }

    static func pack(words: [String], size: Int) -> [String] {
        var pieces: [String] = []
        var current = ""
        for word in words {
            if current.isEmpty {
                current = word
            } else if current.count + 1 + word.count <= size {
                current += " " + word
            } else {
                pieces.append(current)
                current = word
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    /// The last `length` characters of `text`, moved forward to a word start.
    static func tail(of text: String, length: Int) -> String {
        guard length > 0 else { return "" }
        guard text.count > length else { return text }
        var start = text.index(text.endIndex, offsetBy: -length)
        if text[text.index(before: start)].isWhitespace == false {
            start = text[start...].firstIndex(where: \.isWhitespace) ?? text.endIndex
        }
        return text[start...].trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
