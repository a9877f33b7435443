#!/usr/bin/env bash
# The test command of the README and of CI: set up the machine, check the release build
# (ops/release-smoke.sh) and the image's runtime stage (ops/runtime-check.sh), build and run the
# benchmark suite in its short mode, then run every test suite.
#
# The debug builds keep SwiftPM's index store: on Linux, test discovery reads it (a build with
# --disable-index-store fails on a fresh clone: "index store path does not exist"). Where CI's time
# goes: docs/performance.md, "CI's build time".
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step says how long it took (CI's budget is 30 minutes; the builds take most of it).
step() {
    local started=$SECONDS
    "$@"
    echo "ops/test.sh: $* took $((SECONDS - started)) s" >&2
}
step bash ops/setup.sh
# Every target imports only what its Package.swift entry declares (SwiftPM follows transitive deps).
step python3 ops/check-imports.py
step swift build --build-tests
step bash ops/release-smoke.sh
# The image's runtime stage holds what the release binary needs (debootstrap + chroot; needs root).
# It checks the binary ops/release-smoke.sh built (built again, it would take the C++ at -O2).
if [ "$(id -u)" = 0 ]; then step env CHATBOT_TESTER_BINARY="$(pwd)/.build/release/chatbot-tester" bash ops/runtime-check.sh; else echo "ops/test.sh: not root: skipping ops/runtime-check.sh" >&2; fi
# The benchmark suite (Benchmarks/ChatbotTesterBenchmarks, a target of this package) runs each
# benchmark twice on small inputs, so it cannot rot, and fails when a benchmark allocates more
# than its recorded threshold (Benchmarks/Thresholds/short-debug; docs/performance.md).
step bash ops/bench-short.sh
step swift test --skip-build "$@"
