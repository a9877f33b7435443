#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the parsers the project wrote itself: each harness of
# Sources/ChatbotTesterFuzzing checks a byte path against its reference (JSONDecoder) and that no
# input crashes or hangs. See docs/fuzzing.md.
#
#   bash ops/fuzz.sh "HARNESS…"|all [SECONDS]
#   HARNESS: json records line journalLine frame journaled framing httpReply serverSentEvents jsonRepair config caseLine proxy reportPieces reportsOrder
#
# Builds chatbot-tester-fuzz with -sanitize=fuzzer into .build-fuzz/ (its own build directory),
# seeds a working corpus in .build-fuzz/corpus/HARNESS from Tests/ChatbotTesterFuzzingTests/Corpus/
# and runs libFuzzer for SECONDS each (default 60). A failing input is left as
# .build-fuzz/crash-HARNESS-<sha1> and the script exits 1: copy it into the test corpus with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
harnesses=${1:?usage: bash ops/fuzz.sh HARNESS|all [SECONDS]}
seconds=${2:-60}
[ "$harnesses" = all ] && harnesses="json records line journalLine frame journaled framing httpReply serverSentEvents jsonRepair config caseLine proxy reportPieces reportsOrder"
# lld, not gold: gold crashes reporting libFuzzer's undefined symbols in the plugin tools SwiftPM
# links beside the product (lld prints those errors, which do not fail the build, and links it).
mkdir -p .build-fuzz
if ! swift build --build-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld \
    --product chatbot-tester-fuzz > .build-fuzz/build.log 2>&1; then
    grep -v "ld.lld: error\|>>> \|linker command failed\|link command failed" .build-fuzz/build.log >&2
    echo "ops/fuzz.sh: the build failed (.build-fuzz/build.log)" >&2
    exit 2
fi
binary=.build-fuzz/debug/chatbot-tester-fuzz
status=0
for harness in $harnesses; do
    corpus=.build-fuzz/corpus/$harness
    mkdir -p "$corpus"
    cp -n Tests/ChatbotTesterFuzzingTests/Corpus/"$harness"/* "$corpus"/
    echo "ops/fuzz.sh: $harness for ${seconds} s (corpus $corpus)"
    # The Swift runtime's backtracer would take the crash before libFuzzer saves the input.
    if ! SWIFT_BACKTRACE=enable=no FUZZ_HARNESS=$harness "$binary" "$corpus" -max_total_time="$seconds" \
        -max_len=8192 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=.build-fuzz/crash-"$harness"- -print_final_stats=1 \
        > .build-fuzz/fuzz-"$harness".log 2>&1; then
        echo "ops/fuzz.sh: $harness FAILED; see .build-fuzz/fuzz-$harness.log and .build-fuzz/crash-$harness-*" >&2
        grep -A1 "Fatal error" .build-fuzz/fuzz-"$harness".log | head -4 >&2 || true
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" .build-fuzz/fuzz-"$harness".log | tr '\n' ' '
        echo
    fi
done
exit $status
