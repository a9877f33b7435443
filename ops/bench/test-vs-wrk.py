#!/usr/bin/env python3
"""End-to-end `test` throughput against the server's own capacity (issue 13's first goal).

Starts an OpenAI-compatible server on loopback (our mock server at latency 0, or any command given
with --server), then, round by round, back to back: wrk (Debian's `wrk`) posting a chat completion
at the same concurrency for --seconds, and `chatbot-tester test` with --cases single-turn cases,
concurrency --concurrency and one `contains` metric. Prints each round and the medians: cases/s,
requests/s and their ratio (the goal: >= 0.4), and the CPU time (user + system) of `test` per
case. A benchmark that prints figures; it asserts nothing.

usage: ops/bench/test-vs-wrk.py [--cases 20000] [--concurrency 32] [--rounds 5] [--seconds 10]
                                [--server 'CMD with {port}'] [--model m] [--binary PATH] [--mock-binary PATH]
                                [--http-client own|foundation]
       another implementation: pip install mockllm, a responses file whose default reply holds
       "30 days" (`defaults: {unknown_response: "refunds take 30 days"}`), then
       --server 'mockllm start -p {port} -r responses.yml'. A round whose cases are not all `ok`
       stops the script (errors are not throughput).
       --http-client foundation runs `test` with CHATBOT_TESTER_HTTP_CLIENT=foundation (URLSession;
       plain http targets otherwise take the own HTTP/1.1 client; docs/backends.md).
       (builds nothing: uses .build/release/chatbot-tester; `apt-get install wrk`)
"""
import argparse, json, os, resource, shlex, shutil, socket, statistics, subprocess, sys, tempfile, time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
default_binary = os.path.join(root, ".build/release/chatbot-tester")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"no server on port {port}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--server", help="a command starting another server; {port} is replaced")
    parser.add_argument("--model", default="m")
    parser.add_argument("--binary", default=default_binary, help="the chatbot-tester to measure")
    parser.add_argument("--mock-binary", help="the chatbot-tester whose mock-server serves (default: --binary), "
                                             "to compare two builds against the same server")
    parser.add_argument("--http-client", choices=["own", "foundation"], default="own",
                        help="the HTTP client of `test` (CHATBOT_TESTER_HTTP_CLIENT)")
    options = parser.parse_args()
    test_env = dict(os.environ)
    if options.http_client == "foundation":
        test_env["CHATBOT_TESTER_HTTP_CLIENT"] = "foundation"
    binary = options.binary
    work = tempfile.mkdtemp(prefix="ct-wrk-")
    with open(os.path.join(work, "cases.jsonl"), "w") as f:
        for i in range(options.cases):
            f.write(json.dumps({"id": f"c{i}", "input": f"MOCK_REPLY: refunds take 30 days ({i})"}) + "\n")
    body = json.dumps({"model": options.model, "messages": [{"role": "user", "content": "MOCK_REPLY: refunds take 30 days (1)"}]})
    with open(os.path.join(work, "post.lua"), "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n')
    port = free_port()
    command = shlex.split(options.server.format(port=port)) if options.server else \
        [options.mock_binary or binary, "mock-server", "--port", str(port), "--latency-ms", "0"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    with open(os.path.join(work, "job.yaml"), "w") as f:
        f.write(f"""backends:
  bot: {{type: openai, baseURL: "http://127.0.0.1:{port}/v1", model: {options.model}}}
dataset: cases.jsonl
run: {{concurrency: {options.concurrency}}}
evaluate:
  metrics: [{{type: contains, value: "30 days"}}]
""")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    rates, capacities, cpus = [], [], []
    try:
        for round in range(options.rounds):
            out = subprocess.run(["wrk", "-t2", f"-c{options.concurrency}", f"-d{options.seconds}s", "-s",
                                  os.path.join(work, "post.lua"), url], capture_output=True, text=True, check=True).stdout
            capacity = float(next(l for l in out.splitlines() if l.startswith("Requests/sec:")).split()[1])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.monotonic()
            result = subprocess.run([binary, "test", "job.yaml", "--out", os.path.join(work, f"out-{round}"), "--no-progress"],
                                    cwd=work, env=test_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wall = time.monotonic() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if result.returncode not in (0, 1):
                sys.exit(f"test: exit {result.returncode}: {result.stderr[-2000:]}")
            with open(os.path.join(work, f"out-{round}", "run-summary.json")) as f:
                counts = json.load(f)["statistics"]
            if counts["ok"] != options.cases:
                sys.exit(f"test: {counts['ok']} of {options.cases} cases ok ({counts['error']} errors): not a throughput figure")
            shutil.rmtree(os.path.join(work, f"out-{round}"))
            rate = options.cases / wall
            rates.append(rate)
            capacities.append(capacity)
            load = os.getloadavg()[0]
            cpus.append(cpu)
            print(f"round {round + 1}: wrk {capacity:8.0f} requests/s; test {rate:7.0f} cases/s ({wall:5.2f} s, CPU {cpu:5.2f} s ="
                  f" {cpu / options.cases * 1e6:4.0f} us/case) = {rate / capacity:4.2f} (load {load:.1f})", flush=True)
        rate, capacity = statistics.median(rates), statistics.median(capacities)
        print(f"median: wrk {capacity:.0f} requests/s; test {rate:.0f} cases/s; ratio {rate / capacity:.2f};"
              f" test CPU {statistics.median(cpus) / options.cases * 1e6:.0f} us/case")
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
