#!/usr/bin/env bash
# The benchmark suite's short mode (CI): builds the suite (the ChatbotTesterBenchmarks target, its
# sources in Benchmarks/) in debug — after `swift build --build-tests` that is only a link — runs
# every benchmark twice on small inputs (BENCHMARK_SHORT=1) and checks each benchmark's allocation count (mallocCountTotal, the stable signal on a shared machine)
# against the counts recorded in this same mode, Benchmarks/Thresholds/short-debug/mallocCountTotal.json
# (tolerance 5 % or 50 allocations, whichever is larger). More allocations than recorded: exit 2.
# Clearly fewer: reported, and the thresholds should be recorded again:
#   swift build --product ChatbotTesterBenchmarks && Benchmarks/allocations.py record
# The suite's executable is run directly (Benchmarks/allocations.py reads its output): the benchmark
# plugin's `thresholds check` crashes here (Swift 6.3 on Linux: the plugin preloads a runtime
# interposer it did not build, ordo-one/benchmark issue 349). Release-mode figures and medians:
# `swift package benchmark` (see docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product ChatbotTesterBenchmarks
cd Benchmarks
if [ ! -f Thresholds/short-debug/mallocCountTotal.json ]; then
    # No thresholds recorded: only check that the suite compiles and runs.
    BENCHMARK_SHORT=1 ../.build/debug/ChatbotTesterBenchmarks --quiet true > /dev/null
    echo "benchmarks (short mode): ok (no thresholds recorded in Thresholds/short-debug: allocation counts not checked)"
    exit 0
fi
status=0
python3 allocations.py check || status=$?
case $status in
    0) echo "benchmarks (short mode): allocation counts within the recorded thresholds" ;;
    4) echo "benchmarks (short mode): fewer allocations than recorded; record the thresholds again (see ops/bench-short.sh)" ;;
    *)
        echo "benchmarks (short mode): FAILED (exit $status; 2: more allocations than the recorded thresholds)"
        exit "$status"
        ;;
esac
