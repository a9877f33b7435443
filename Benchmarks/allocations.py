#!/usr/bin/env python3
"""Allocation counts of the benchmark suite, recorded and checked without the benchmark plugin.

`swift package benchmark ... thresholds update|check` cannot run here: with Swift 6.3 on Linux the
plugin preloads a Swift runtime interposer (ordo-one/benchmark issue 349) that is not built, and
the suite then crashes with SIGSEGV. The suite's executable runs fine on its own (it links the
malloc interposer), and prints every metric's percentiles. This script runs it, reads each
benchmark's `Malloc (total)` (the smallest count over its iterations: the first one also pays for
lazy set-up), and either records those counts or compares them with the recorded ones.

usage: Benchmarks/allocations.py record|check [--binary PATH] [--thresholds FILE] [--filter REGEX]

  record  writes FILE (default Thresholds/short-debug/mallocCountTotal.json): {benchmark: count}
  check   exit 0 when every count is within tolerance of FILE, 2 when some benchmark allocates
          more (each regression printed), 4 when some allocates clearly fewer (record again),
          1 when the suite fails or a recorded benchmark did not run

`record` runs the suite three times and keeps each benchmark's largest count. Tolerance: a count
may exceed its record by 5 % or by 50 allocations, whichever is larger (the concurrent benchmarks
vary by a few dozen allocations from run to run — the HTTP round trip by up to 8 % of its ~550 —
while one allocation more per iteration of a measured loop adds hundreds or thousands).
"""
import argparse, json, os, re, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
RELATIVE, ABSOLUTE = 0.05, 50


def measure(binary, filters):
    env = dict(os.environ, BENCHMARK_SHORT="1")
    args = [binary, "--quiet", "true"] + [x for f in filters for x in ("--filter", f)]
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        sys.exit(f"benchmark suite failed (exit {p.returncode})")
    counts, name, in_malloc = {}, None, False
    for line in p.stdout.splitlines():
        header = re.match(r"^(?:\w+ )?[Rr]esults for (.+):$", line.strip())
        if header:
            name, in_malloc = header.group(1), False
        elif line.strip().endswith(":"):
            in_malloc = line.strip() == "Malloc (total):"
        elif in_malloc and name:
            row = re.match(r"^\s*([\d.]+)\s+([\d.]+)\s+\d+", line)
            if row:
                value = int(float(row.group(1)))
                counts[name] = min(counts.get(name, value), value)
    if not counts:
        sys.exit("no `Malloc (total)` figures in the suite's output (was it built with the MallocInterposer trait?)")
    return counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("--binary", default=os.path.join(here, "..", ".build/debug/ChatbotTesterBenchmarks"))
    parser.add_argument("--thresholds", default=os.path.join(here, "Thresholds/short-debug/mallocCountTotal.json"))
    parser.add_argument("--filter", action="append", default=[])
    o = parser.parse_args()
    counts = measure(o.binary, o.filter)
    if o.action == "record":
        for _ in range(2):
            for name, count in measure(o.binary, o.filter).items():
                counts[name] = max(counts.get(name, count), count)
        os.makedirs(os.path.dirname(o.thresholds), exist_ok=True)
        with open(o.thresholds, "w") as f:
            json.dump(counts, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"recorded the allocation counts of {len(counts)} benchmarks in {o.thresholds}")
        return 0
    with open(o.thresholds) as f:
        recorded = json.load(f)
    worse, better, missing = [], [], []
    for name, limit in sorted(recorded.items()):
        if o.filter and not any(re.search(f, name) for f in o.filter):
            continue
        if name not in counts:
            missing.append(name)
            continue
        allowed = max(limit * (1 + RELATIVE), limit + ABSOLUTE)
        if counts[name] > allowed:
            worse.append(f"  {name}: {counts[name]} allocations, recorded {limit} (allowed up to {int(allowed)})")
        elif counts[name] < min(limit * (1 - RELATIVE), limit - ABSOLUTE):
            better.append(f"  {name}: {counts[name]} allocations, recorded {limit}")
    for name in sorted(set(counts) - set(recorded)):
        print(f"  {name}: {counts[name]} allocations (not recorded yet)")
    if missing:
        print("recorded benchmarks that did not run:\n  " + "\n  ".join(missing))
        return 1
    if worse:
        print("more allocations than recorded:\n" + "\n".join(worse))
        return 2
    if better:
        print("fewer allocations than recorded (record again: Benchmarks/allocations.py record):\n" + "\n".join(better))
        return 4
    print(f"allocation counts of {len(counts)} benchmarks within the recorded thresholds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
