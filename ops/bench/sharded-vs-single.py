#!/usr/bin/env python3
"""The cluster tax: the same job (N cases, latency 0, one `contains` metric, against the mock
OpenAI-compatible server on loopback) run back to back in one process and with `--workers W`.
Prints wall time and CPU seconds of the coordinator process itself (workers excluded: the tree's
CPU at its exit less what its workers used, which it logs as its last event, `source:
process.cpu`; builds that do not log it are read from /proc, polled every 50 ms in 10 ms ticks,
which misses their last moments) and of the whole process tree, for the whole command and for
its run stage alone (from the `job.stage` events in events.jsonl). Both modes write results, evaluations
and every report inside the run stage (one process from its journals, the coordinator in its
merge pass), so what follows the run stage is only the command's own start-up and exit. The mock
server is not part of the tree (it is started once, before the rounds). A benchmark that prints
figures; it asserts nothing. With `--against B2` each round runs both builds (alternating, on the
same server and dataset) and the end compares their medians: a change of a point or less in the
coordinator's share is within one build's round-to-round spread here, so builds are compared in the
same rounds, not across runs.

With `--latency-ms L` the server holds each reply L ms; with `--slow P:MS` every case whose
position is a multiple of 100/P (P percent of them, spread evenly) asks the server for MS ms instead
(`MOCK_LATENCY_MS`), e.g. `--slow 2:1000`: how much a few slow cases stretch each mode's tail.

usage: ops/bench/sharded-vs-single.py [--cases 20000] [--workers 2] [--concurrency 32] [--rounds 1] [--binary PATH] [--memory]
                                      [--latency-ms 0] [--slow P:MS] [--against PATH]
       (builds nothing: uses .build/release/chatbot-tester unless --binary names another build)
"""
import argparse, json, os, re, resource, socket, statistics, subprocess, sys, tempfile, time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
binary = os.path.join(root, ".build/release/chatbot-tester")
ticks = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_times(pid):
    """(own, own + reaped children) CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / ticks
    return own, own + (int(fields[13]) + int(fields[14])) / ticks


def peak_mb(pid):
    """The process's peak resident set (VmHWM) in MB, 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0


def children(pid):
    """The pids whose parent is `pid` (a scan of /proc: not every kernel has .../children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found


def run(args, cwd, events, peaks=None, program=None):
    """Runs the command; returns (wall, own CPU, tree CPU) for the whole command and for its run
    stage (until the run stage's end event, when the workers have exited and been reaped). With
    `peaks` (a dict), fills in the process's peak RSS under "process" and each child's by pid."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    process = subprocess.Popen([program or binary] + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cpu = 0.0
    run_stage = None
    offset, pending = 0, b""
    while process.poll() is None:
        try:
            cpu, tree_now = cpu_times(process.pid)
        except OSError:
            pass
        if peaks is not None:
            peaks["process"] = max(peaks.get("process", 0), peak_mb(process.pid))
            for child in children(process.pid):
                peaks[child] = max(peaks.get(child, 0), peak_mb(child))
        if run_stage is None and os.path.exists(events):
            with open(events, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            pending += chunk
            if b'"stage":"run","started":false' in pending:
                run_stage = (time.monotonic() - start, cpu, tree_now)
            pending = pending[-200:]
        time.sleep(0.05)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    tree = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode not in (0, 1):
        sys.exit(f"{args}: exit {process.returncode}: {process.stderr.read().decode()[-2000:]}")
    # The process's own CPU exactly: the tree's (measured here at its exit) less what its workers
    # used, which it logs as its last event (`source: process.cpu`, from getrusage once they were
    # reaped). The polled figure misses what it does after the last poll and is read in 10 ms ticks.
    workers_cpu = workers_cpu_logged(events)
    if workers_cpu is not None:
        cpu = tree - workers_cpu
    return (wall, cpu, tree), run_stage


def workers_cpu_logged(events):
    """The CPU seconds of the processes the command started and waited for, from its last
    `process.cpu` event (None when it logged none)."""
    found = None
    try:
        with open(events, "rb") as f:
            for line in f:
                if b'"process.cpu"' in line:
                    match = re.search(r"started and waited for ([0-9.]+) s", json.loads(line)["message"])
                    if match:
                        found = float(match.group(1))
    except (OSError, ValueError):
        return None
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--binary", default=binary)
    parser.add_argument("--against", default=None,
                        help="a second build: each round runs both, alternating, and the end compares their medians")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--slow", default=None, help="P:MS: P percent of the cases take MS ms")
    parser.add_argument("--memory", action="store_true",
                        help="also print each process's peak RSS (VmHWM, sampled every 50 ms)")
    options = parser.parse_args()
    globals()["binary"] = os.path.abspath(options.binary)
    work = tempfile.mkdtemp(prefix="ct-bench-")
    every, slow_ms = 0, 0
    if options.slow:
        percent, slow_ms = (float(part) for part in options.slow.split(":"))
        every = max(1, round(100 / percent))
    with open(os.path.join(work, "cases.jsonl"), "w") as f:
        for i in range(options.cases):
            slow = f"MOCK_LATENCY_MS: {slow_ms:g}\n" if every and i % every == every - 1 else ""
            f.write(json.dumps({"id": f"c{i}", "input": f"{slow}MOCK_REPLY: refunds take 30 days ({i})"}) + "\n")
    port = free_port()
    server = subprocess.Popen([binary, "mock-server", "--port", str(port), "--latency-ms", f"{options.latency_ms:g}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    with open(os.path.join(work, "job.yaml"), "w") as f:
        f.write(f"""backends:
  bot: {{type: openai, baseURL: "http://127.0.0.1:{port}/v1", model: m}}
dataset: cases.jsonl
run: {{concurrency: {options.concurrency}}}
evaluate:
  metrics: [{{type: contains, value: "30 days"}}]
""")
    try:
        builds = [os.path.abspath(options.binary)] + ([os.path.abspath(options.against)] if options.against else [])
        ratios = {build: [] for build in builds}
        shares = {build: [] for build in builds}
        # The share counting the mock server's CPU during the run too (it shares the cores: the
        # issue's "run's total" read the widest way; the share above is the strict reading).
        shares_with_server = {build: [] for build in builds}
        coordinator = {build: [] for build in builds}
        for index in range(options.rounds):
            for number, build in enumerate(builds):
                if len(builds) > 1:
                    print(f"round {index + 1}, {build}:")
                single_wall = None
                for label, extra in (("single", []), (f"--workers {options.workers}", ["--workers", str(options.workers)])):
                    out = os.path.join(work, f"out-{index}-{number}-{len(extra)}")
                    peaks = {} if options.memory else None
                    server_before = cpu_times(server.pid)[0]
                    (wall, cpu, tree), stage = run(["test", "job.yaml", "--out", out, "--no-progress"] + extra, work,
                                                   os.path.join(out, "events.jsonl"), peaks, program=build)
                    print(f"{label:>12}: {options.cases} cases in {wall:6.2f} s = {options.cases / wall:7.0f} cases/s; "
                          f"coordinator/process CPU {cpu:5.2f} s ({100 * cpu / max(tree, 1e-9):4.1f}% of the tree's {tree:5.2f} s)")
                    server_cpu = cpu_times(server.pid)[0] - server_before
                    print(f"{'server':>12}: the mock server used {server_cpu:5.2f} s of CPU meanwhile "
                          f"(the coordinator/process: {100 * cpu / max(tree + server_cpu, 1e-9):4.1f}% of tree and server)")
                    if peaks is not None:
                        workers = [f"{mb:.0f}" for pid, mb in peaks.items() if pid != "process" and mb > 0]
                        print(f"{'peak RSS':>12}: coordinator/process {peaks.get('process', 0):.0f} MB"
                              + (f", workers {', '.join(workers)} MB" if workers else ""))
                    if stage:
                        swall, scpu, stree = stage
                        print(f"{'run stage':>12}: {swall:6.2f} s; coordinator/process CPU {scpu:5.2f} s "
                              f"({100 * scpu / max(stree, 1e-9):4.1f}% of the tree's {stree:5.2f} s)")
                    if not extra:
                        single_wall = wall
                    else:
                        ratios[build].append(wall / single_wall)
                        shares[build].append(100 * cpu / max(tree, 1e-9))
                        shares_with_server[build].append(100 * cpu / max(tree + server_cpu, 1e-9))
                        coordinator[build].append(cpu)
                    sys.stdout.flush()
        # The two goals, per round and at the median: the sharded wall time over one
        # process's in the same round (<= 1.10), the coordinator's share of the tree (<= 10 %).
        for build in builds:
            prefix = f"{build}: " if len(builds) > 1 else ""
            print(f"{prefix}--workers {options.workers} / one process, per round: {', '.join(f'{r:.2f}' for r in ratios[build])} "
                  f"(median {statistics.median(ratios[build]):.2f}); the coordinator's share: "
                  f"{', '.join(f'{x:.1f}' for x in shares[build])} % (median {statistics.median(shares[build]):.1f} %); "
                  f"of tree and server: median {statistics.median(shares_with_server[build]):.1f} %")
        if len(builds) > 1:
            # Builds compared round by round on the same machine state: the medians' differences.
            first, second = builds
            print(f"{second} against {first}: the coordinator's CPU median "
                  f"{statistics.median(coordinator[second]):.3f} s against {statistics.median(coordinator[first]):.3f} s, "
                  f"its share {statistics.median(shares[second]):.1f} % against {statistics.median(shares[first]):.1f} %, "
                  f"the wall ratio {statistics.median(ratios[second]):.2f} against {statistics.median(ratios[first]):.2f}")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
