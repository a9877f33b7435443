#!/usr/bin/env bash
# The README's main command: set up, build, and run the quickstart job on the built-in scripted
# bot (no API key, no network). Results land in runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
CHATBOT_TESTER_SKIP_TEST_TOOLS=1 bash ops/setup.sh
swift build --product chatbot-tester
exec .build/debug/chatbot-tester test examples/quickstart.yaml --out runs/quickstart "$@"
