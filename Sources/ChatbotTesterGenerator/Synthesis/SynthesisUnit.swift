import ChatbotTesterCore
import Foundation

/// One synthesis request: a topic or a document chunk, how many cases and of which types.
public struct SynthesisUnit: Sendable, Hashable {
    /// What the cases are about.
    public enum Subject: Sendable, Hashable {
        case topic(String)
        case chunk(DocumentChunk)
    }

    /// Position in the unit order (also varies the request seed and the type rotation).
    public var index: Int
    public var subject: Subject
    /// The question type of each asked-for case, in order.
    public var plannedTypes: [QuestionType]

    /// A stable key, kept in each sample's `metadata.generationUnit`, so a resumed generation can
    /// skip units it already wrote without calling the model again.
    public var key: String {
        switch subject {
        case .topic(let topic): "topic:\(topic)"
        case .chunk(let chunk): "document:\(chunk.source)#\(chunk.index)"
        }
    }

    /// Names the unit in drop reports.
    public var origin: String {
        switch subject {
        case .topic(let topic): "synthesize topic '\(topic)'"
        case .chunk(let chunk): "synthesize \(chunk.source) chunk \(chunk.index)"
        }
    }

    /// Spreads `count` cases over `types`, rotating the start by unit so small counts still cover
    /// every type across units.
    static func plan(count: Int, types: [QuestionType], index: Int) -> [QuestionType] {
        (0..<count).map { types[(index + $0) % types.count] }
    }

    /// The units of a spec: topics first, then each chunk of each document.
    static func units(of spec: SynthesizeSpec, baseDirectory: URL?, field: String) throws -> [SynthesisUnit] {
        var units: [SynthesisUnit] = []
        for topic in spec.topics {
            units.append(
                SynthesisUnit(
                    index: units.count, subject: .topic(topic),
                    plannedTypes: plan(count: spec.perTopic, types: spec.questionTypes, index: units.count)))
        }
        let chunker = DocumentChunker(size: spec.chunkSize, overlap: spec.chunkOverlap)
        for (position, path) in spec.documents.enumerated() {
            for chunk in try chunker.load(path, baseDirectory: baseDirectory, field: "\(field).documents[\(position)]") {
                units.append(
                    SynthesisUnit(
                        index: units.count, subject: .chunk(chunk),
                        plannedTypes: plan(count: spec.perChunk, types: spec.questionTypes, index: units.count)))
            }
        }
        return units
    }
}
