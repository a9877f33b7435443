#!/usr/bin/env bash
# The benchmark suite's short mode (CI): builds Benchmarks/ (a package of its own, depending on this
# one by path) in debug and runs every benchmark twice on small inputs. It checks that the suite
# compiles and runs; thresholds are checked with `swift package benchmark thresholds check` in
# Benchmarks/ (release build; see docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
swift build --product ChatbotTesterBenchmarks
BENCHMARK_SHORT=1 .build/debug/ChatbotTesterBenchmarks --quiet true > /dev/null
echo "benchmarks (short mode): ok"
