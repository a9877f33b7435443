import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// `DecimalText.fixed` formats without `String(format:)` on the common path: its output must be
/// `printf`'s, byte for byte, ties and edges included (the reports, which format every row with
/// it, are compared byte for byte across modes; metrics' reasons and progress lines use it too).
@Suite struct DecimalTextTests {
    static func printf(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    @Test func edgesAndTiesMatchPrintf() {
        let values: [Double] = [
            0, 0.0005, 0.0015, 0.0025, 1.0005, 2.5, 3.5, 0.125, 0.375, 0.05, 0.15, 0.25, 0.35, 1e-9, 0.9995, 0.99949999, 9.9995,
            123.4565, 999_999.9995, 12_345_678.5, 99_999_999.99, 1e8, 5e8, 999_999_999, 1e9, 1.5e9, 1e15, 1e300,
            0.1 + 0.2, 1.0 / 3, 2.0 / 3, 100.05, 1234.5678, Double.ulpOfOne, Double.leastNonzeroMagnitude,
            -0.0, -0.0004, -1.5, -2.5, -123.456,
        ]
        for value in values {
            for digits in 0...9 {
                #expect(DecimalText.fixed(value, digits: digits) == Self.printf(value, digits), "\(value) with \(digits) digits")
            }
        }
        #expect(DecimalText.fixed(.nan, digits: 3) == Self.printf(.nan, 3))
        #expect(DecimalText.fixed(.infinity, digits: 1) == Self.printf(.infinity, 1))
    }

    @Test(.cpuBound) func latenciesScoresAndSecondsMatchPrintf() async {
        var generator = SystemRandomNumberGenerator()
        var mismatches: [String] = []
        for step in 0..<200_000 {
            // Latencies in ms (0.1 ms steps and arbitrary), scores in [0, 1], seconds.
            let value: Double =
                switch step % 4 {
                case 0: Double(step) / 10
                case 1: Double(step) * 0.0005
                case 2: Double.random(in: 0...1, using: &generator)
                default: Double.random(in: 0...100_000, using: &generator)
                }
            for digits in [1, 3] where DecimalText.fixed(value, digits: digits) != Self.printf(value, digits) {
                mismatches.append("\(value) with \(digits) digits")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }
}
