#!/usr/bin/env bash
# The test command of the README and of CI: set up the machine, check the release build
# (ops/release-smoke.sh) and the image's runtime stage (ops/runtime-check.sh), build and run the
# benchmark suite in its short mode, then run every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/setup.sh
# Every target imports only what its Package.swift entry declares (SwiftPM follows transitive deps).
python3 ops/check-imports.py
swift build --build-tests
bash ops/release-smoke.sh
# The image's runtime stage holds what the release binary needs (debootstrap + chroot; needs root).
if [ "$(id -u)" = 0 ]; then bash ops/runtime-check.sh; else echo "ops/test.sh: not root: skipping ops/runtime-check.sh" >&2; fi
# The benchmark suite (Benchmarks/, its own package) builds and runs each benchmark twice on small
# inputs, so it cannot rot, and fails when a benchmark allocates more than its recorded threshold
# (Benchmarks/Thresholds/short-debug; docs/performance.md).
bash ops/bench-short.sh
swift test --skip-build "$@"
