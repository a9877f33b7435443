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
# What the build needs first; what only the tests and the runtime check need (Chromium, the PyPI
# tools, the runtime stage's Debian root) is fetched and unpacked while the debug build runs: that
# work waits on the network, the build on the two cores.
step env CHATBOT_TESTER_SKIP_TEST_TOOLS=1 bash ops/setup.sh
mkdir -p .build
background_log=.build/ops-test-background.log
(
    step bash ops/setup.sh
    if [ "$(id -u)" = 0 ]; then step bash ops/runtime-check.sh --root-only; fi
) >"$background_log" 2>&1 &
background=$!
trap 'kill "$background" 2>/dev/null || true' EXIT
step swift build --build-tests
if ! wait "$background"; then
    cat "$background_log" >&2
    echo "ops/test.sh: installing the test tools or building the runtime root failed (above)" >&2
    exit 1
fi
cat "$background_log" >&2
# Every target imports only what its Package.swift entry declares (SwiftPM follows transitive deps).
step python3 ops/check-imports.py
step bash ops/release-smoke.sh
# The image's runtime stage holds what the release binary needs (debootstrap + chroot; needs root).
# It checks the binary ops/release-smoke.sh built (built again, it would take the C++ at -O2).
if [ "$(id -u)" = 0 ]; then step env CHATBOT_TESTER_BINARY="$(pwd)/.build/release/chatbot-tester" bash ops/runtime-check.sh; else echo "ops/test.sh: not root: skipping ops/runtime-check.sh" >&2; fi
# The benchmark suite (Benchmarks/ChatbotTesterBenchmarks, a target of this package) runs each
# benchmark twice on small inputs, so it cannot rot, and fails when a benchmark allocates more
# than its recorded threshold (Benchmarks/Thresholds/short-debug; docs/performance.md).
step bash ops/bench-short.sh
step swift test --skip-build "$@"
