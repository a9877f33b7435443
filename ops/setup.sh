#!/usr/bin/env bash
# Installs what chatbot-tester needs on a fresh Debian/Ubuntu machine: libuv (cluster transport),
# pkg-config, and Chromium (the HTML report test opens the report headless). Idempotent.
set -euo pipefail

need=()
dpkg -s libuv1-dev >/dev/null 2>&1 || need+=(libuv1-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# xmllint validates junit.xml against the JUnit schema in the evaluator tests.
if [ "${CHATBOT_TESTER_SKIP_CHROMIUM:-0}" != 1 ]; then
  command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
fi
if [ "${CHATBOT_TESTER_SKIP_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "ops/setup.sh: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
