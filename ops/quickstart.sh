#!/usr/bin/env bash
# The README's main command: set up, build, and run the quickstart job on the built-in scripted
# bot (no API key, no network). Results land in runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
CHATBOT_TESTER_SKIP_TEST_TOOLS=1 bash ops/setup.sh
# --disable-index-store: as ops/test.sh builds, so the two scripts share one debug build.
swift build --product chatbot-tester --disable-index-store
exec .build/debug/chatbot-tester test examples/quickstart.yaml --out runs/quickstart "$@"
