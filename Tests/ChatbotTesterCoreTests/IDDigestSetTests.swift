import ChatbotTesterCore
import Testing

@Suite struct IDDigestSetTests {
    @Test func holdsEachIdOnceThroughGrowth() {
        var set = IDDigestSet()
        let ids = (0..<50_000).map { "case-\($0)" }
        for id in ids {
            let inserted = set.insert(id)
            #expect(inserted)
        }
        for id in ids.prefix(1000) {
            let inserted = set.insert(id)
            #expect(!inserted)
        }
        #expect(set.count == ids.count)
        #expect(ids.allSatisfy(set.contains))
        #expect(!set.contains("case-50000") && !set.contains("") && !set.contains("case-"))
    }

    /// Room made once the set holds ids keeps them, with their values, and takes the rest
    /// without growing; room asked below what it has changes nothing.
    @Test func reservingRoomKeepsWhatItHolds() {
        var set = IDDigestSet(values: true)
        for index in 0..<10 { _ = set.insert("id-\(index)", value: index) }
        set.reserveCapacity(5_000)
        set.reserveCapacity(100)
        #expect(set.count == 10)
        #expect((0..<10).allSatisfy { (index: Int) in set.value(of: "id-\(index)") == index })
        for index in 10..<5_000 { #expect(set.insert("id-\(index)", value: index) == nil) }
        #expect(set.count == 5_000 && set.value(of: "id-4999") == 4999 && !set.contains("id-5000"))
    }

    @Test func keepsTheFirstValueAndUpdatesOnRequest() {
        var lines = IDDigestSet(expectedCount: 3, values: true)
        let first = lines.insert("a", value: 1), second = lines.insert("b", value: 2), again = lines.insert("a", value: 9)
        #expect(first == nil && second == nil && again == 1)
        #expect(lines.value(of: "a") == 1 && lines.value(of: "b") == 2 && lines.value(of: "c") == nil)
        let updated = lines.update("b", value: 7), absent = lines.update("c", value: 1)
        #expect(updated && !absent)
        for n in 0..<1000 { _ = lines.insert("x\(n)", value: n) }
        #expect(lines.value(of: "b") == 7 && lines.value(of: "x999") == 999)
        #expect(lines.count(values: { $0 >= 500 }) == 500)
        let high = lines.filter(values: { $0 >= 990 })
        #expect(high.count == 10 && high.contains("x995") && !high.contains("a"))
    }

    @Test func idsEqualAsSwiftStringsAreOneId() {
        var set = IDDigestSet()
        let composed = set.insert("caf\u{E9}")
        let decomposed = set.insert("cafe\u{301}")  // canonically equivalent, as Set<String> treats it
        let upper = set.insert("CAF\u{C9}")
        #expect(composed && !decomposed && upper)
    }

    @Test func anIdTakesAbout20BytesHoweverLong() {
        var set = IDDigestSet(expectedCount: 200_000)
        for n in 0..<200_000 { set.insert("a-rather-long-sample-identifier-\(n)") }
        #expect(set.count == 200_000)
        #expect(set.footprintBytes <= 200_000 * 21)
    }
}
