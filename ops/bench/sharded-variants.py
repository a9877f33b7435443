#!/usr/bin/env python3
"""The same `test` job run several ways in each round, rounds interleaved: one process and any
number of sharded variants (other worker counts, other builds, other environments), so a change is
read against the same machine state. Prints, per variant, the median wall time, the CPU of the
whole process tree, the coordinator's own CPU and its share of the tree, and per round the wall
and CPU ratio of each variant to the first. A benchmark that prints figures; it asserts nothing.

The job is `ops/bench/sharded-vs-single.py`'s: N single-turn cases, concurrency 32, one `contains`
metric, against the mock OpenAI-compatible server on loopback at latency 0 (started once).

usage: ops/bench/sharded-variants.py [--cases 20000] [--rounds 10] [--binary PATH] VARIANT...
       VARIANT is NAME=SPEC, SPEC a comma-separated list of: wN (--workers N), bin:PATH (another
       build), env:NAME:VALUE (an environment variable); an empty SPEC is one process with --binary.
       e.g.  single=  w2=w2  old=w2,bin:/tmp/old-build  one-thread=w2,env:CHATBOT_TESTER_WORKER_THREADS:1
       The first variant is the reference of the ratios.
       (builds nothing: uses .build/release/chatbot-tester unless --binary names another build)
"""
import argparse, importlib.util, json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# The job's helpers are sharded-vs-single.py's (one of each).
_spec = importlib.util.spec_from_file_location("sharded_vs_single", os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharded-vs-single.py"))
single_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(single_bench)


def parse(variant, binary):
    name, _, spec = variant.partition("=")
    args, env, program = [], {}, binary
    for part in filter(None, spec.split(",")):
        if part.startswith("w") and part[1:].isdigit():
            args += ["--workers", part[1:]]
        elif part.startswith("bin:"):
            program = os.path.abspath(part[4:])
        elif part.startswith("env:") and part.count(":") >= 2:
            key, value = part[4:].split(":", 1)
            env[key] = value
        else:
            sys.exit(f"{variant}: cannot read '{part}' (wN, bin:PATH, env:NAME:VALUE)")
    return name or variant, args, env, program


def prepare_job(work, cases, binary):
    """Writes the job into `work` (`cases.jsonl` of `cases` single-turn cases, `job.yaml`: concurrency
    32, one `contains` metric) and starts the mock server it calls (latency 0); returns the server."""
    with open(os.path.join(work, "cases.jsonl"), "w") as f:
        for i in range(cases):
            f.write(json.dumps({"id": f"c{i}", "input": f"MOCK_REPLY: refunds take 30 days ({i})"}) + "\n")
    port = single_bench.free_port()
    server = subprocess.Popen([binary, "mock-server", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    with open(os.path.join(work, "job.yaml"), "w") as f:
        f.write(f"""backends:
  bot: {{type: openai, baseURL: "http://127.0.0.1:{port}/v1", model: m}}
dataset: cases.jsonl
run: {{concurrency: 32}}
evaluate:
  metrics: [{{type: contains, value: "30 days"}}]
""")
    return server


def parse_options(rounds):
    """The command line both variant benchmarks take: its options, the binary and the variants."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--binary", default=os.path.join(root, ".build/release/chatbot-tester"))
    parser.add_argument("variants", nargs="+")
    options = parser.parse_args()
    binary = os.path.abspath(options.binary)
    return options, binary, [parse(v, binary) for v in options.variants]


def main():
    options, binary, variants = parse_options(10)
    work = tempfile.mkdtemp(prefix="ct-variants-")
    server = prepare_job(work, options.cases, binary)
    results = {name: [] for name, _, _, _ in variants}
    try:
        for round_index in range(options.rounds):
            for name, args, env, program in variants:
                out = os.path.join(work, "out")
                shutil.rmtree(out, ignore_errors=True)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.monotonic()
                done = subprocess.run([program, "test", "job.yaml", "--out", out, "--no-progress"] + args, cwd=work,
                                      env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                wall = time.monotonic() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode not in (0, 1):
                    sys.exit(f"{name}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")
                tree = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                coordinator = tree - (single_bench.workers_cpu_logged(os.path.join(out, "events.jsonl")) or 0.0)
                results[name].append((wall, tree, coordinator))
            print(f"round {round_index + 1}: " + ", ".join(f"{n} {results[n][-1][0]:.2f} s" for n, _, _, _ in variants))
            sys.stdout.flush()
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)
    reference = variants[0][0]
    for name, _, _, _ in variants:
        rows = results[name]
        wall, tree, own = ([row[i] for row in rows] for i in range(3))
        share = [100 * row[2] / max(row[1], 1e-9) for row in rows]
        print(f"{name:>16}: wall median {statistics.median(wall):.2f} s (min {min(wall):.2f}), tree CPU {statistics.median(tree):.2f} s, "
              f"coordinator/process CPU {statistics.median(own):.3f} s ({statistics.median(share):.1f} % of the tree)")
        if name != reference:
            ratios = [a[0] / b[0] for a, b in zip(rows, results[reference])]
            cpu = [a[1] / b[1] for a, b in zip(rows, results[reference])]
            print(f"{'':>16}  / {reference}: wall ratio median {statistics.median(ratios):.3f} "
                  f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}), CPU ratio median {statistics.median(cpu):.3f}")


if __name__ == "__main__":
    main()
