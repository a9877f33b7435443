/// For a test's long CPU-bound loop (property checks, seeded mutations, every-byte splits): a
/// loop that never suspends holds a thread of Swift's cooperative pool for seconds, and on a
/// two-core machine two of them stop every other test of the suite — their servers, watchers and
/// time bounds. `perf` and `eu-stack` samples of the whole suite found exactly that.
public enum PoolCourtesy {
    /// Yields to the pool's other tasks once every `rounds` rounds of a loop (at `round`).
    public static func yield(at round: Int, every rounds: Int = 100) async {
        if round % rounds == rounds - 1 { await Task.yield() }
    }
}
