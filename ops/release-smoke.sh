#!/usr/bin/env bash
# Release-build smoke check: Swift's optimiser has miscompiled code that debug tests passed (see
# docs/evaluator.md), so the quickstart runs in a release build too, in one process and sharded
# over workers, and its verdicts must equal the debug build's. A short benchmark exercises the
# HTTP path under load.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Our Swift is built as the Dockerfile builds it (-c release: whole-module optimisation; Swift
# runtime linked statically), so ops/runtime-check.sh checks this binary without a second release
# build (ops/test.sh hands it over). One difference, for CI's 30-minute budget: the vendored C++ —
# swift-crypto's BoringSSL copy, ~250 files (swift-nio-ssl's went with async-http-client) — is compiled at -O0
# (`-Xcxx` reaches only C++ compiles; no Swift command changes). The optimiser this smoke watches is
# Swift's, and what the binary links against is the same. CHATBOT_TESTER_SMOKE_AS_SHIPPED=1 builds
# the C++ at -O2 too, exactly as the image does.
cxx=(-Xcxx -O0)
[ "${CHATBOT_TESTER_SMOKE_AS_SHIPPED:-0}" = 1 ] && cxx=()
swift build -c release --product chatbot-tester --static-swift-stdlib "${cxx[@]}"
debug=.build/debug/chatbot-tester
release=.build/release/chatbot-tester
[ -x "$debug" ] || swift build --product chatbot-tester

verdicts() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    print(e["sampleId"], e["metric"], e["status"], e.get("score"), e.get("passed"))
' "$1"; }

"$debug" test examples/quickstart.yaml --out "$work/debug" --no-progress >/dev/null
"$release" test examples/quickstart.yaml --out "$work/release" --no-progress >/dev/null
"$release" test examples/quickstart.yaml --out "$work/workers" --workers 2 --no-progress >/dev/null
diff <(verdicts "$work/debug/evals.jsonl") <(verdicts "$work/release/evals.jsonl")
diff <(verdicts "$work/debug/evals.jsonl") <(verdicts "$work/workers/evals.jsonl")
"$release" bench --samples 2000 --latency-ms 5 --concurrency 32
echo "release smoke: ok (debug, release and 2-worker verdicts agree)"
