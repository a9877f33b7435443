#!/usr/bin/env bash
# Checks that the Dockerfile's runtime stage holds everything the release binary needs, without a
# Docker engine: builds a Debian bookworm root with debootstrap (variant minbase — what
# debian:bookworm-slim is made of — plus the packages the runtime stage installs, read from the
# Dockerfile), adds the stage's non-root user, copies in the binary as the builder stage makes it
# (release, Swift runtime linked statically) and runs it under chroot as that user:
#   chatbot-tester --version / backends list
#   the quickstart job (built-in scripted backends), in one process and over 2 worker processes
#   an openai-type job against `chatbot-tester mock-server` (both in the root, as that user)
#
#   sudo bash ops/runtime-check.sh                       # builds the binary (swift build -c release --static-swift-stdlib)
#   CHATBOT_TESTER_BINARY=path sudo bash ops/runtime-check.sh   # checks that binary instead
#   sudo bash ops/runtime-check.sh --root-only           # only builds (or finds) the root, for a later check
#
# Needs root (debootstrap, chroot) and a Debian mirror: DEBOOTSTRAP_MIRROR, else the first deb.debian.org-style
# URI of /etc/apt/sources.list.d/debian.sources, else http://deb.debian.org/debian. The root is
# cached in .build/runtime-root/<digest of suite and packages>; a rerun takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ "$(id -u)" != 0 ]; then echo "runtime-check: needs root (debootstrap, chroot)" >&2; exit 2; fi
command -v debootstrap >/dev/null || { apt-get install -y --no-install-recommends debootstrap >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends debootstrap >/dev/null; }; }

# The runtime stage: its base image's suite and the packages it installs.
runtime=$(sed -n '/^FROM debian:/,$p' Dockerfile)
suite=$(printf '%s\n' "$runtime" | sed -n 's/^FROM debian:\([a-z]*\).*/\1/p' | head -1)
packages=$(printf '%s\n' "$runtime" | tr -d '\\' | tr '\n' ' ' | grep -o 'install -y --no-install-recommends [^&]*' | head -1 \
    | sed 's/install -y --no-install-recommends //' | xargs | tr ' ' ',')
useradd_line=$(printf '%s\n' "$runtime" | grep -o 'useradd [^&\\]*' | head -1 | xargs)
user=$(printf '%s\n' "$runtime" | sed -n 's/^USER \([0-9]*\):\([0-9]*\).*/\1:\2/p' | head -1)
[ -n "$suite" ] && [ -n "$packages" ] && [ -n "$useradd_line" ] && [ -n "$user" ] || {
    echo "runtime-check: cannot read the runtime stage from the Dockerfile (suite '$suite', packages '$packages', user '$user')" >&2; exit 2; }

mirror=${DEBOOTSTRAP_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}

digest=$(printf '%s %s %s' "$suite" "$packages" "$useradd_line" | sha256sum | cut -c1-16)
root="$repo/.build/runtime-root/$digest"
if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    mkdir -p "$root"
    echo "runtime-check: debootstrap --variant=minbase --include=$packages $suite ($mirror)"
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$repo/.build/runtime-root/$digest.log" 2>&1 || {
        tail -20 "$repo/.build/runtime-root/$digest.log" >&2; echo "runtime-check: debootstrap failed" >&2; exit 1; }
    # The stage's user, with the stage's own command.
    chroot "$root" $useradd_line
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
    touch "$root/.complete"
fi
if [ "${1:-}" = --root-only ]; then echo "runtime-check: root ready ($root)"; exit 0; fi

# The binary as the builder stage makes it.
binary=${CHATBOT_TESTER_BINARY:-}
if [ -z "$binary" ]; then
    swift build -c release --product chatbot-tester --static-swift-stdlib
    binary="$(swift build -c release --show-bin-path)/chatbot-tester"
fi
if ldd "$binary" 2>/dev/null | grep -q 'libswiftCore\|libFoundation'; then
    echo "runtime-check: $binary links the Swift runtime dynamically; build it as the Dockerfile does (--static-swift-stdlib)" >&2
    exit 2
fi
install -m 0755 "$binary" "$root/usr/local/bin/chatbot-tester"

# A private work directory for the runs, owned by the stage's user.
work=/home/tester/check
rm -rf "$root$work"
mkdir -p "$root$work"
cp -r examples "$root$work/examples"
chown -R "$user" "$root$work"

mounted=""
cleanup() {
    [ -n "$mounted" ] && umount "$root/proc" 2>/dev/null || true
    [ -n "${mock_pid:-}" ] && kill "$mock_pid" 2>/dev/null || true
    [ -n "${tls_pid:-}" ] && kill "$tls_pid" 2>/dev/null || true
}
trap cleanup EXIT
if mount -t proc proc "$root/proc" 2>/dev/null; then mounted=1; fi

# As the stage's user, in its home, with a clean environment (what the image's ENTRYPOINT gets).
in_root=(chroot --userspec="$user" "$root" /usr/bin/env -i HOME=/home/tester PATH=/usr/local/bin:/usr/bin:/bin)
as_user() {
    "${in_root[@]}" /bin/sh -c "cd $work && $*"
}

as_user chatbot-tester --version
as_user chatbot-tester backends list >/dev/null
as_user chatbot-tester test examples/quickstart.yaml --out runs/one --no-progress >/dev/null
as_user chatbot-tester test examples/quickstart.yaml --out runs/two --workers 2 --no-progress >/dev/null
cmp <(as_user "grep -o '\"passed\":[a-z]*' runs/one/evals.jsonl") <(as_user "grep -o '\"passed\":[a-z]*' runs/two/evals.jsonl")

# The openai backend (HTTP client, loopback) in the root, against the mock LLM server run in the
# root too, as the stage's user — as docker-compose.yml's mock service runs it. (As a non-root user
# it once closed every connection: it set TCP_NODELAY at the socket level, which is SO_DEBUG, a
# privileged option.)
port=$(( 20000 + RANDOM % 20000 ))
# Started without a subshell between (not through as_user): $! is then the server itself (chroot,
# env and sh each exec the next), and the kill below reaches it.
"${in_root[@]}" /bin/sh -c "cd $work && exec chatbot-tester mock-server --port $port" >/dev/null 2>&1 &
mock_pid=$!
cat >"$root$work/mock.yaml" <<EOF
name: runtime-check
backends:
  bot: {type: openai, baseURL: "http://127.0.0.1:$port/v1", model: mock, apiKey: {env: MOCK_KEY, optional: true}}
dataset: cases.jsonl
evaluate:
  metrics:
    - {type: length, name: replied, unit: words, min: 1}
EOF
printf '{"id":"c%d","input":"hello %d"}\n' 1 1 2 2 3 3 4 4 5 5 >"$root$work/cases.jsonl"
chown "$user" "$root$work/mock.yaml" "$root$work/cases.jsonl"
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
as_user chatbot-tester test mock.yaml --out runs/mock --no-progress >/dev/null
records=$(as_user "wc -l < runs/mock/results.jsonl")
[ "$records" -eq 5 ]
kill "$mock_pid"
wait "$mock_pid" 2>/dev/null || true
mock_pid=""

# https in the root: libcurl4 and the CA store of the stage, through URLSession. The test
# server's self-signed certificate (CN localhost) joins the root's CA bundle, as an operator adds
# a private CA; the server runs outside the root, on loopback.
tls="$repo/Tests/ChatbotTesterBackendsTests/Fixtures/tls"
bundle="$root/etc/ssl/certs/ca-certificates.crt"
[ -f "$bundle" ] || { echo "runtime-check: the runtime stage has no CA bundle ($bundle)" >&2; exit 1; }
grep -q "$(sed -n 2p "$tls/test-only-cert.pem")" "$bundle" || cat "$tls/test-only-cert.pem" >>"$bundle"
exec 4< <(exec python3 "$tls/server.py" "$tls/test-only-cert.pem" "$tls/test-only-key.pem")
tls_pid=$!
read -r -t 20 tls_port <&4 || { echo "runtime-check: the TLS test server did not start" >&2; exit 1; }
sed "s|http://127.0.0.1:$port/v1|https://localhost:$tls_port/v1|" "$root$work/mock.yaml" >"$root$work/tls.yaml"
chown "$user" "$root$work/tls.yaml"
as_user chatbot-tester test tls.yaml --out runs/tls --no-progress >/dev/null || {
    kill "$tls_pid" 2>/dev/null; echo "runtime-check: the https run failed" >&2; as_user "cat runs/tls/results.jsonl | head -c 600" >&2; exit 1; }
kill "$tls_pid" 2>/dev/null || true
tls_records=$(as_user "grep -c '\"status\":\"ok\"' runs/tls/results.jsonl")
[ "$tls_records" -eq 5 ] || { echo "runtime-check: $tls_records of 5 https cases ok" >&2; exit 1; }
# (Read from /proc: a fresh machine may have no pgrep.)
if grep -lsxz -e "--port" /proc/[0-9]*/cmdline | xargs -r grep -lsz -e "^$port\$" | xargs -r grep -lsz -e "^mock-server\$" | grep -q .; then
    echo "runtime-check: the mock server on port $port is still running after the check" >&2
    exit 1
fi
echo "runtime-check: ok ($suite minbase + $packages, user $user: --version, backends list, quickstart in 1 and 2 processes, openai backend against mock-server, both in the root: $records records; over https with the root's CA store: $tls_records ok)"
