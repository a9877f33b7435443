#!/usr/bin/env bash
# The test command of the README and of CI: set up the machine, check the release build
# (ops/release-smoke.sh), then run every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/setup.sh
# Every target imports only what its Package.swift entry declares (SwiftPM follows transitive deps).
python3 ops/check-imports.py
swift build --build-tests
bash ops/release-smoke.sh
swift test --skip-build "$@"
