import ChatbotTesterCluster
import Foundation

/// A worker's processor that makes the reports' pieces as the one it wraps does, but refuses to
/// put them together for the coordinator (protocol 13: `makeReports` answered with a failure):
/// the coordinator must then make the reports itself (`worker --refuse-reports`).
struct RefusingReports: ShardProcessor {
    let wrapped: any ShardProcessor

    func process(_ samples: [IndexedSample], emit: @escaping @Sendable (ClusterRecord) async -> Void) async throws {
        try await wrapped.process(samples, emit: emit)
    }

    var reportPieceMaker: (any ClusterReportPieceMaker)? { wrapped.reportPieceMaker.map { Maker(wrapped: $0) } }

    /// Makes the pieces; its `makeReports` is the protocol's default, which refuses.
    struct Maker: ClusterReportPieceMaker {
        let wrapped: any ClusterReportPieceMaker

        func begin(path: String) throws -> any ClusterReportPieceBatch {
            try wrapped.begin(path: path)
        }
    }

    /// `factory`, its processors wrapped.
    static func wrapping(_ factory: @escaping ShardProcessorFactory) -> ShardProcessorFactory {
        { setup, registry, context in RefusingReports(wrapped: try await factory(setup, registry, context)) }
    }
}
