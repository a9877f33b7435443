#!/usr/bin/env bash
# The benchmark suite's short mode (CI): builds Benchmarks/ (a package of its own, depending on this
# one by path) in debug and runs every benchmark twice on small inputs (BENCHMARK_SHORT=1) through
# the benchmark plugin, which preloads the malloc interposer, then checks each benchmark's
# allocation count (mallocCountTotal, the stable signal on a shared machine) against the thresholds
# recorded in this same mode, Benchmarks/Thresholds/short-debug/ (tolerance: the suite's
# configuration, 5 % or 2,000 allocations). More allocations than recorded: exit 2. Fewer than the
# tolerance: reported, and the thresholds should be recorded again:
#   cd Benchmarks && BENCHMARK_SHORT=1 swift package --allow-writing-to-package-directory benchmark \
#     --benchmark-build-configuration debug --metric mallocCountTotal --path Thresholds/short-debug thresholds update
# Release-mode figures and medians: `swift package benchmark` (see docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
if ! ls Thresholds/short-debug/*.json > /dev/null 2>&1; then
    # No thresholds recorded yet: only check that the suite compiles and runs.
    swift build --product ChatbotTesterBenchmarks
    BENCHMARK_SHORT=1 .build/debug/ChatbotTesterBenchmarks --quiet true > /dev/null
    echo "benchmarks (short mode): ok (no thresholds recorded in Thresholds/short-debug: allocation counts not checked)"
    exit 0
fi
status=0
BENCHMARK_SHORT=1 swift package benchmark --benchmark-build-configuration debug --metric mallocCountTotal \
    --path Thresholds/short-debug --no-progress thresholds check > .build-bench-short.log 2>&1 || status=$?
case $status in
    0) echo "benchmarks (short mode): allocation counts within the recorded thresholds" ;;
    4)
        grep -A30 "better than threshold" .build-bench-short.log || true
        echo "benchmarks (short mode): fewer allocations than recorded; record the thresholds again (see ops/bench-short.sh)"
        ;;
    *)
        tail -60 .build-bench-short.log
        echo "benchmarks (short mode): FAILED (exit $status; 2: more allocations than the recorded thresholds)"
        exit "$status"
        ;;
esac
