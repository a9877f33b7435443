import ChatbotTesterCore

/// An input whose samples can be read without suspending. The Runner then reads each sample in its
/// own loop, when a slot frees, instead of in a child task per sample: one task and two wake-ups
/// less per case, and the next request starts sooner.
///
/// Only for inputs whose reads never wait long (memory, a local regular file): a read that blocks
/// holds up the run's bookkeeping, and a graceful stop, until it returns. An input that may wait
/// (a pipe, standard input, a remote stream) returns `nil` from `makeImmediateReader()` and is
/// read through its async iterator, one child task per read, as any other `AsyncSequence`.
public protocol ImmediateSampleSequence: AsyncSequence, Sendable where Element == TestSample {
    /// A reader of the same samples, in the same order, as a fresh `makeAsyncIterator()` gives;
    /// `nil` to have the Runner use the async iterator.
    func makeImmediateReader() -> ImmediateSampleReader?
}

/// Reads an input's samples without suspending (one reader per run, used by one task).
public struct ImmediateSampleReader {
    private let read: () throws -> TestSample?

    /// - Parameter read: the next sample, `nil` at the end; throws what the input's iterator throws.
    public init(_ read: @escaping () throws -> TestSample?) {
        self.read = read
    }

    /// The next sample, or `nil` at the end.
    public func next() throws -> TestSample? {
        try read()
    }
}

extension SyntheticSamples: ImmediateSampleSequence {
    public func makeImmediateReader() -> ImmediateSampleReader? {
        var iterator = Iterator(count: count, prefix: prefix)
        return ImmediateSampleReader { iterator.nextNow() }
    }
}

extension SampleSequence: ImmediateSampleSequence {
    public func makeImmediateReader() -> ImmediateSampleReader? {
        var iterator = makeAsyncIterator()
        return ImmediateSampleReader { iterator.nextNow() }
    }
}
