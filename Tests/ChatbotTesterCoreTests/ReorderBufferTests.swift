import ChatbotTesterCore
import Testing

@Suite struct ReorderBufferTests {
    /// Inserts each index in turn and takes out whatever is ready after it, as the streamed
    /// outputs do; returns the order taken and any refusal.
    static func feed(_ buffer: inout ReorderBuffer<String>, _ indexes: [Int]) -> (out: [Int], refused: [ReorderBuffer<String>.Insertion]) {
        var out: [Int] = []
        var refused: [ReorderBuffer<String>.Insertion] = []
        for index in indexes {
            let insertion = buffer.insert("e\(index)", at: index)
            if insertion != .accepted { refused.append(insertion) }
            while let ready = buffer.popNext() { out.append(Int(ready.dropFirst())!) }
        }
        return (out, refused)
    }

    @Test func inOrderPassesStraightThrough() {
        var buffer = ReorderBuffer<String>(limit: 1)
        let (out, refused) = Self.feed(&buffer, Array(0..<100))
        #expect(out == Array(0..<100) && refused.isEmpty)
        #expect(buffer.next == 100 && buffer.isEmpty)
    }

    /// Every permutation of a window comes out in index order, through the ring's growth and
    /// wrap-around (indexes far past its first 16 slots).
    @Test func outOfOrderComesOutInIndexOrder() {
        var generator = SeededGenerator(seed: 7)
        var indexes: [Int] = []
        for start in stride(from: 0, to: 5000, by: 50) {
            indexes += Array(start..<(start + 50)).shuffled(using: &generator)
        }
        // And one record overtaken by 300 others (the ring grows past 256 slots).
        indexes += [5000] + Array(5002..<5301).reversed() + [5001]
        var buffer = ReorderBuffer<String>(limit: 400)
        let (out, refused) = Self.feed(&buffer, indexes)
        #expect(refused.isEmpty)
        #expect(out == Array(0..<5301))
        #expect(buffer.isEmpty && buffer.next == 5301)
    }

    @Test func aDuplicateIndexIsRefused() {
        var buffer = ReorderBuffer<String>(limit: 10)
        // Already taken out, and held while waiting.
        let (out, refused) = Self.feed(&buffer, [0, 1, 0, 3, 3, 1])
        #expect(out == [0, 1])
        #expect(refused == [.duplicate, .duplicate, .duplicate])
        #expect(buffer.count == 1 && buffer.next == 2)
        // The held one is still the first of its index.
        #expect(buffer.insert("e2", at: 2) == .accepted)
        #expect(buffer.popNext() == "e2" && buffer.popNext() == "e3")
    }

    /// A gap (index 0 never comes) holds everything after it until the limit is passed; the
    /// index at `next` is accepted even then, and releases what waited.
    @Test func aGapPastTheLimitIsReported() {
        var buffer = ReorderBuffer<String>(limit: 3)
        let (out, refused) = Self.feed(&buffer, [1, 2, 3, 4])
        #expect(out.isEmpty)
        #expect(refused == [.overLimit])
        #expect(buffer.count == 3)
        #expect(buffer.insert("e0", at: 0) == .accepted)
        var taken: [String] = []
        while let ready = buffer.popNext() { taken.append(ready) }
        #expect(taken == ["e0", "e1", "e2", "e3"])
        // An index far ahead is refused without growing the ring to reach it.
        var far = ReorderBuffer<String>(limit: 3, maxSpan: 100)
        #expect(far.insert("x", at: 100) == .tooFarAhead)
        #expect(far.insert("x", at: 99) == .accepted)
        #expect(ReorderBuffer<Int>(limit: 3).maxSpan == 1 << 16)
    }

    /// At the end of a run what waits comes out in index order across the gaps of records that
    /// never came; `removeAll` drops what waits.
    @Test func drainTakesWhatWaitsInIndexOrder() {
        var buffer = ReorderBuffer<String>(limit: 10, first: 5)
        let (out, _) = Self.feed(&buffer, [5, 9, 7, 30, 8])
        #expect(out == [5])
        var drained: [Int] = []
        while let (index, element) = buffer.popFirstWaiting() {
            #expect(element == "e\(index)")
            drained.append(index)
        }
        #expect(drained == [7, 8, 9, 30])
        #expect(buffer.isEmpty && buffer.next == 31)
        #expect(buffer.popFirstWaiting() == nil)

        var dropped = ReorderBuffer<String>(limit: 10)
        _ = Self.feed(&dropped, [2, 3])
        dropped.removeAll()
        #expect(dropped.isEmpty && dropped.popFirstWaiting() == nil && dropped.next == 0)
        #expect(dropped.insert("e0", at: 0) == .accepted && dropped.popNext() == "e0")
    }
}
