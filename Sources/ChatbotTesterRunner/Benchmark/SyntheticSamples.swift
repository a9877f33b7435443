import ChatbotTesterCore

/// `count` single-prompt samples made on demand (`bench-0`, `bench-1`, …): a million-sample input
/// that never exists in memory.
public struct SyntheticSamples: AsyncSequence, Sendable {
    public typealias Element = TestSample
    public let count: Int
    public let prefix: String

    public init(count: Int, prefix: String = "bench-") {
        self.count = count
        self.prefix = prefix
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(count: count, prefix: prefix)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let count: Int
        let prefix: String
        var next = 0

        public mutating func next() async -> TestSample? {
            nextNow()
        }

        /// `next()` without suspending.
        mutating func nextNow() -> TestSample? {
            guard next < count else { return nil }
            defer { next += 1 }
            return TestSample(id: prefix + String(next), input: "Benchmark question number \(next)?")
        }
    }
}
