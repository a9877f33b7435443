import ChatbotTesterCore
import Foundation
import Testing

@Suite struct LatencyHistogramTests {
    @Test func percentilesAreWithinOnePercent() {
        var histogram = LatencyHistogram()
        for value in 1...1000 { histogram.record(Double(value)) }
        #expect(histogram.count == 1000)
        #expect(histogram.meanMs == 500.5)
        for (fraction, exact) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let estimate = histogram.percentile(fraction)!
            #expect(abs(estimate - exact) / exact < 0.01, "p\(fraction): \(estimate)")
        }
        #expect(histogram.percentile(1.0) == 1000)
    }

    @Test func mergeIsExactAndCodable() throws {
        var a = LatencyHistogram()
        var b = LatencyHistogram()
        var all = LatencyHistogram()
        for value in stride(from: 0.0, to: 300, by: 1.5) {
            if Int(value) % 2 == 0 { a.record(value) } else { b.record(value) }
            all.record(value)
        }
        a.merge(b)
        #expect(a == all)
        let decoded = try JSONDecoder().decode(LatencyHistogram.self, from: JSONEncoder().encode(all))
        #expect(decoded == all)
        #expect(LatencyHistogram().percentile(0.5) == nil)
    }
}
