// How late `Task.sleep` wakes on this machine: 64 tasks each sleep 50 ms 78 times (what the
// latency-bound goal's N·L/C assumes of the server: 5,000 × 50 ms / 64 ≈ 3.9 s) and nothing else.
// The elapsed time over 3.9 s is the timer's and the scheduler's share of `bench`'s ratio, before
// any request is made. A benchmark that prints figures; it asserts nothing.
//
// usage: swiftc -O ops/bench/sleep-lateness.swift -o /tmp/sleep-lateness && /tmp/sleep-lateness [nil|zero]
//        (nil: `Task.sleep(for:)` as the Runner's in-process target sleeps; zero: `tolerance: .zero`)
let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "nil"
let clock = ContinuousClock()
let rounds = 78
let start = clock.now
await withTaskGroup(of: Duration.self) { group in
    for _ in 0..<64 {
        group.addTask {
            var late = Duration.zero
            for _ in 0..<rounds {
                let before = clock.now
                if mode == "zero" {
                    try? await Task.sleep(for: .milliseconds(50), tolerance: .zero)
                } else {
                    try? await Task.sleep(for: .milliseconds(50))
                }
                late += (clock.now - before) - .milliseconds(50)
            }
            return late
        }
    }
    var total = Duration.zero
    for await late in group { total += late }
    let elapsed = clock.now - start
    print("\(mode): \(elapsed) for an ideal 3.9 s; each sleep ended \(total / (64 * rounds)) late on average")
}
