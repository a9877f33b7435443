#!/usr/bin/env python3
"""The latency-bound goal of issue 13, timed from outside the process (start-up and exit included).

Runs `chatbot-tester bench --samples N --latency-ms L --concurrency C --warmup 0 --json` --rounds
times per binary (binaries alternate round by round, so a change of load hits them alike) and
prints, per run and as medians per binary:

- `outside`: the wall time from just before the process is started to its exit, measured here with
  a monotonic clock, against the ideal N·L/C — the goal (<= 1.03);
- `start`: bench's own `processRatioToIdeal` (from the kernel's start time of the process, read in
  10 ms clock ticks: up to 10 ms long);
- `window`: the Runner's window alone (`ratioToIdeal`), the added latency at p50 and the in-process
  mock server's mean hold (how late the server itself was);
- `start-up` and `teardown`: the milliseconds from just before the process is started to the
  window's start, and from the window's end to the process's exit (bench reports the window's ends
  on CLOCK_MONOTONIC, the clock `time.monotonic()` reads here).

A benchmark that prints figures; it asserts nothing.

usage: ops/bench/latency-bound.py [--binary PATH ...] [--rounds 5] [--samples 5000]
                                  [--latency-ms 50] [--concurrency 64]
       (builds nothing: default binary .build/release/chatbot-tester)
"""
import argparse, json, os, statistics, subprocess, sys, time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def one_run(binary, args):
    """(wall seconds, bench's JSON, start-up ms, teardown ms)."""
    start = time.monotonic()
    done = subprocess.run([binary, "bench", "--samples", str(args.samples), "--latency-ms", str(args.latency_ms),
                           "--concurrency", str(args.concurrency), "--warmup", "0", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic()
    if done.returncode != 0:
        sys.exit(f"{binary}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")
    m = json.loads(done.stdout)
    window_start, window_end = m.get("monotonicWindowStart"), m.get("monotonicWindowEnd")
    startup = (window_start - start) * 1000 if window_start else 0
    teardown = (end - window_end) * 1000 if window_end else 0
    return end - start, m, startup, teardown


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", action="append")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    binaries = args.binary or [os.path.join(root, ".build/release/chatbot-tester")]
    ideal = args.samples * args.latency_ms / 1000 / args.concurrency
    rows = {b: [] for b in binaries}
    for round_ in range(args.rounds):
        for binary in binaries:
            load = os.getloadavg()[0]
            wall, m, startup, teardown = one_run(binary, args)
            row = (wall / ideal, m.get("processRatioToIdeal") or 0, m["ratioToIdeal"], m["addedLatencyP50Ms"],
                   m.get("serverHoldMeanMs") or 0, startup, teardown)
            rows[binary].append(row)
            print(f"round {round_ + 1} {binary}: outside {wall:6.3f} s = {row[0]:.4f}x ideal; "
                  f"from process start {row[1]:.4f}x; window {row[2]:.4f}x; added p50 {row[3]:.2f} ms; "
                  f"server hold {row[4]:.2f} ms; start-up {startup:.1f} ms, teardown {teardown:.1f} ms "
                  f"(load {load:.1f})", flush=True)
    print(f"ideal N*L/C = {ideal:.3f} s; medians over {args.rounds} rounds:")
    for binary, values in rows.items():
        med = [statistics.median(v[i] for v in values) for i in range(7)]
        print(f"  {binary}: outside {med[0]:.4f}x, from process start {med[1]:.4f}x, window {med[2]:.4f}x, "
              f"added p50 {med[3]:.2f} ms, server hold {med[4]:.2f} ms, start-up {med[5]:.1f} ms, "
              f"teardown {med[6]:.1f} ms")


if __name__ == "__main__":
    main()
