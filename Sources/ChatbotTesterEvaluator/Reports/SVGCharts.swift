/// Small inline SVG charts for the HTML report (no library, no network).
enum SVGCharts {
    /// A stacked horizontal bar: passed / failed / unmeasured (and scored without threshold).
    static func outcomeBar(passed: Int, failed: Int, unmeasured: Int, other: Int, width: Double = 220) -> String {
        let total = Double(max(passed + failed + unmeasured + other, 1))
        var x = 0.0
        var parts = ""
        for (count, color, label) in [(passed, "#1a7f37", "passed"), (failed, "#cf222e", "failed"), (unmeasured, "#d4a72c", "unmeasured"), (other, "#8c959f", "scored")]
        where count > 0 {
            let w = width * Double(count) / total
            parts += "<rect x=\"\(fmt(x))\" y=\"0\" width=\"\(fmt(w))\" height=\"14\" fill=\"\(color)\"><title>\(count) \(label)</title></rect>"
            x += w
        }
        return "<svg class=\"bar\" width=\"\(fmt(width))\" height=\"14\" role=\"img\" aria-label=\"\(passed) passed, \(failed) failed, \(unmeasured) unmeasured\">"
            + "<rect width=\"\(fmt(width))\" height=\"14\" fill=\"#eaeef2\"/>\(parts)</svg>"
    }

    /// A 20-bin histogram of scores on [0, 1].
    static func histogram(_ histogram: ScoreHistogram, width: Double = 160, height: Double = 28) -> String {
        var bins = [Int](repeating: 0, count: 20)
        for (index, count) in histogram.counts {
            let value = histogram.value(ofBucket: index)
            bins[min(19, Int(value * 20))] += count
        }
        let peak = Double(max(bins.max() ?? 1, 1))
        let w = width / 20
        var bars = ""
        for (i, count) in bins.enumerated() where count > 0 {
            let h = max(1, height * Double(count) / peak)
            bars += "<rect x=\"\(fmt(Double(i) * w))\" y=\"\(fmt(height - h))\" width=\"\(fmt(w - 1))\" height=\"\(fmt(h))\" fill=\"#0969da\"><title>\(fmt(Double(i) / 20))–\(fmt(Double(i + 1) / 20)): \(count)</title></rect>"
        }
        return "<svg class=\"hist\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" role=\"img\" aria-label=\"score distribution\">"
            + "<line x1=\"0\" y1=\"\(fmt(height))\" x2=\"\(fmt(width))\" y2=\"\(fmt(height))\" stroke=\"#d0d7de\"/>\(bars)</svg>"
    }

    static func fmt(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
