#!/usr/bin/env bash
# The test command of the README and of CI: set up the machine, check the release build
# (ops/release-smoke.sh), run every test suite, then the benchmark suite in its short mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/setup.sh
# Every target imports only what its Package.swift entry declares (SwiftPM follows transitive deps).
python3 ops/check-imports.py
swift build --build-tests
bash ops/release-smoke.sh
# The benchmark suite (Benchmarks/, its own package) builds and runs each benchmark twice on small
# inputs, so it cannot rot; thresholds are checked on demand (docs/performance.md).
# SKIP_BENCHMARKS=1 leaves it out.
if [ -z "${SKIP_BENCHMARKS:-}" ]; then bash ops/bench-short.sh; fi
swift test --skip-build "$@"
