#!/usr/bin/env python3
"""`evaluate` and `validate` rates, measured (issue 13).

Writes (once, into --work) a results.jsonl of N single-turn run records shaped like `test`'s
(latency 0, a mock reply), a job with the six deterministic metrics (`contains`, `equals`,
`regex`, `starts-with`, `length`, `latency`), a dataset of about --dataset-mb MB of cases of
~500 bytes, and one case whose input is --long-line-mb MB long. Then runs, with
/usr/bin/time -v, `evaluate` of the results and `validate` of both datasets, and prints
records/s, MB/s and peak RSS. A benchmark that prints figures; it asserts nothing.

usage: ops/bench/evaluate-validate.py [--records 1000000] [--dataset-mb 1024] [--long-line-mb 16]
                                      [--work /tmp/ct-evalspeed] [--binary .build/release/chatbot-tester]
                                      [--only evaluate|validate|long] [--rounds N]

`--binary` may be given more than once (say, main's build and yours): each measurement then runs
every binary in turn, `--rounds` times (alternating, so a change in the machine's load hits all).
"""
import argparse, json, os, re, shutil, subprocess, sys, time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

JOB = """backends:
  bot: {type: openai, baseURL: "http://127.0.0.1:9/v1", model: m}
dataset: cases.jsonl
evaluate:
  metrics:
    - {type: contains, value: "30 days"}
    - {type: equals}
    - {type: regex, pattern: "[Rr]efunds? take [0-9]+ days"}
    - {type: starts-with, value: "Refunds"}
    - {type: length, max: 400}
    - {type: latency, max: 2000}
"""


def record(i):
    reply = f"Refunds take 30 days ({i}). Keep the receipt and the original packaging."
    sample = {"expected": reply if i % 3 else "Refunds take 14 days.", "id": f"c{i}",
              "input": f"MOCK_REPLY: {reply}", "schemaVersion": 2, "tags": ["refunds"] if i % 2 else []}
    if not sample["tags"]:
        del sample["tags"]
    return {"attempts": 1, "finishedAt": "2026-12-01T17:13:31Z", "latencyMs": 0.412 + (i % 97) / 10, "output": reply,
            "sample": sample, "sampleId": f"c{i}", "schemaVersion": 2, "startedAt": "2026-12-01T17:13:31Z",
            "status": "ok", "stopReason": "completed", "target": "bot",
            "transcript": [{"content": sample["input"], "role": "user"}, {"content": reply, "role": "assistant"}],
            "turns": [{"attempts": 1, "finishReason": "stop", "index": 0, "latencyMs": 0.4,
                       "usage": {"completionTokens": 14, "promptTokens": 20, "totalTokens": 34}}],
            "usage": {"completionTokens": 14, "promptTokens": 20, "totalTokens": 34}}


def case(i):
    text = "Where is my order? " * 12
    return {"id": f"case-{i:08d}", "input": f"{text}(#{i})", "expected": "It ships within 2 days and arrives within 5 days.",
            "tags": ["orders", "smoke"], "metadata": {"source": "bench", "n": i}, "criteria": "Polite, gives a time frame."}


def ensure(path, writer):
    if not os.path.exists(path):
        tmp = path + ".part"
        with open(tmp, "w") as f:
            writer(f)
        os.rename(tmp, path)


def timed(args, cwd):
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v"] + args, cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - start
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", p.stderr).group(1)) for k in ("User", "System"))
    return p.returncode, wall, cpu, rss, p.stdout + p.stderr


def measure(o, binary, only, results, dataset, long_line, label):
    if "evaluate" in only:
        out = os.path.join(o.work, "eval-out")
        shutil.rmtree(out, ignore_errors=True)
        code, wall, cpu, rss, text = timed([binary, "evaluate", "job6.yaml", "--results", results, "--out", out, "--no-progress"], o.work)
        print(f"{label}evaluate {o.records} records x 6 metrics: exit {code}, {wall:.1f} s, {o.records / wall:,.0f} records/s, CPU {cpu:.1f} s, peak RSS {rss:.1f} MB")
        if code not in (0, 1):
            print(text[-2000:])
    if "validate" in only:
        size = os.path.getsize(dataset) / 1e6
        code, wall, cpu, rss, text = timed([binary, "validate", dataset, "--kind", "dataset"], o.work)
        print(f"{label}validate {size:,.0f} MB dataset: exit {code}, {wall:.1f} s, {size / wall:,.1f} MB/s, CPU {cpu:.1f} s, peak RSS {rss:.1f} MB; {text.strip().splitlines()[0]}")
    if "long" in only:
        code, wall, cpu, rss, text = timed([binary, "validate", long_line, "--kind", "dataset"], o.work)
        print(f"{label}validate one {o.long_line_mb} MB line: exit {code}, {wall:.2f} s, peak RSS {rss:.1f} MB")
    print(f"{label}load: {os.getloadavg()}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dataset-mb", type=int, default=1024)
    parser.add_argument("--long-line-mb", type=int, default=16)
    parser.add_argument("--work", default="/tmp/ct-evalspeed")
    parser.add_argument("--binary", action="append")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", choices=["evaluate", "validate", "long"], action="append")
    o = parser.parse_args()
    binaries = o.binary or [os.path.join(root, ".build/release/chatbot-tester")]
    os.makedirs(o.work, exist_ok=True)
    results = os.path.join(o.work, f"results-{o.records}.jsonl")
    dataset = os.path.join(o.work, f"cases-{o.dataset_mb}mb.jsonl")
    long_line = os.path.join(o.work, f"line-{o.long_line_mb}mb.jsonl")
    with open(os.path.join(o.work, "job6.yaml"), "w") as f:
        f.write(JOB)
    ensure(os.path.join(o.work, "cases.jsonl"), lambda f: f.write('{"id": "c0", "input": "hi"}\n'))
    ensure(results, lambda f: [f.write(json.dumps(record(i), sort_keys=True, separators=(",", ":")) + "\n") for i in range(o.records)])

    def write_dataset(f):
        size, i = 0, 0
        while size < o.dataset_mb << 20:
            line = json.dumps(case(i)) + "\n"
            f.write(line)
            size += len(line)
            i += 1
    ensure(dataset, write_dataset)
    ensure(long_line, lambda f: f.write(json.dumps({"id": "long", "input": "x" * ((o.long_line_mb << 20) - 40)}) + "\n"))
    print(f"load: {os.getloadavg()}")
    only = o.only or ["evaluate", "validate", "long"]
    for round in range(o.rounds):
        for binary in binaries:
            label = f"[{os.path.basename(binary)} round {round + 1}] " if len(binaries) > 1 or o.rounds > 1 else ""
            measure(o, binary, only, results, dataset, long_line, label)
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
