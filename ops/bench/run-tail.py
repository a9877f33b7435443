#!/usr/bin/env python3
"""The end of a run: from the last case to the end of the run stage, for builds and modes run
alternately on the same job (N single-turn cases, concurrency 32, one `contains` metric, against the
mock OpenAI-compatible server on loopback at latency 0, started once). The last case is the latest
`run.sample.*` event of the run (one process logs them in events.jsonl, a sharded run's workers in
events/<worker>.jsonl); the end is the `job.stage` event that closes the run stage. What a
sharded run does there that one process does not — the workers' lines written and synced, the
reports finished — shows here. A benchmark that prints figures; it asserts nothing.

usage: ops/bench/run-tail.py [--cases 20000] [--rounds 5] [--binary PATH] VARIANT...
       VARIANT is NAME=SPEC as in ops/bench/sharded-variants.py (wN, bin:PATH, env:NAME:VALUE),
       e.g.  single=  w2=w2  old=w2,bin:/tmp/old-build
"""
import datetime, glob, importlib.util, json, os, shutil, statistics, subprocess, tempfile

_spec = importlib.util.spec_from_file_location("sharded_variants", os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharded-variants.py"))
variants_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(variants_bench)


def seconds(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def tail(out):
    """Seconds from the run's last case event to the end of its run stage (None when not found)."""
    last, end = None, None
    for path in [os.path.join(out, "events.jsonl")] + glob.glob(os.path.join(out, "events", "*.jsonl")):
        with open(path) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                kind = str(event.get("kind", ""))
                if kind.startswith("run.sample."):
                    last = max(last or 0, seconds(event["time"]))
                elif kind == "job.stage" and event.get("stage") == "run" and event.get("started") is False:
                    end = seconds(event["time"])
    return end - last if last is not None and end is not None else None


def main():
    options, binary, variants = variants_bench.parse_options(5)
    work = tempfile.mkdtemp(prefix="ct-tail-")
    server = variants_bench.prepare_job(work, options.cases, binary)
    tails = {name: [] for name, _, _, _ in variants}
    try:
        for index in range(options.rounds):
            line = []
            for name, args, env, program in variants:
                out = os.path.join(work, f"out-{name}")
                shutil.rmtree(out, ignore_errors=True)
                done = subprocess.run([program, "test", "job.yaml", "--out", out, "--no-progress"] + args, cwd=work,
                                      env=dict(os.environ, **env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                value = tail(out) if done.returncode == 0 else None
                if value is not None:
                    tails[name].append(value)
                line.append(f"{name} {value * 1000:.0f} ms" if value is not None else f"{name} failed (exit {done.returncode})")
            print(f"round {index + 1}: " + ", ".join(line), flush=True)
        for name, values in tails.items():
            if values:
                print(f"{name:>12}: last case -> end of the run stage, median {statistics.median(values) * 1000:.0f} ms "
                      f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, {len(values)} runs)")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
