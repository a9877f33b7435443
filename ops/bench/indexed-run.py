#!/usr/bin/env python3
"""Indexed runs, measured (issue 11): the same job (N cases, latency 0, one `contains` metric,
against the mock OpenAI-compatible server on loopback)

  1. with `test --workers W` on local disk, and
  2. as an indexed run against moto's S3 (IAM authentication on, ops/s3-test-server.py):
     `plan --shards W --parallelism W`, W `worker --store` processes started at once with
     JOB_COMPLETION_INDEX as an Indexed Job sets it, then `merge`.

Prints wall times, the bytes written to the store by kind, and — with --merge-cases M — the peak
RSS of `merge` over M trivial journaled records on a file store (the journals synthesised from one
real record, so the figure is the merge's alone). A benchmark that prints figures; it asserts
nothing.

usage: ops/bench/indexed-run.py [--cases 20000] [--workers 4] [--concurrency 32] [--merge-cases 1000000]
       (builds nothing: uses .build/release/chatbot-tester; needs pip install 'moto[server]')
"""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
binary = os.path.join(root, ".build/release/chatbot-tester")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(commands, cwd, env):
    """Runs the commands at once; returns the wall time until the last one ended."""
    start = time.monotonic()
    processes = [subprocess.Popen([binary] + args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for args in commands]
    for args, process in zip(commands, processes):
        _, err = process.communicate()
        if process.returncode != 0:
            sys.exit(f"{args}: exit {process.returncode}: {err.decode()[-2000:]}")
    return time.monotonic() - start


def peak_rss(args, cwd, env):
    """Wall time and peak RSS (MB) of one command, measured in a fresh parent (RUSAGE_CHILDREN)."""
    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
             "sys.stderr.write(p.stderr.decode()[-2000:]); print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    start = time.monotonic()
    process = subprocess.run([sys.executable, "-c", probe, binary] + args, cwd=cwd, env=env, capture_output=True)
    wall = time.monotonic() - start
    status, rss = process.stdout.decode().split()
    if status != "0":
        sys.exit(f"{args}: exit {status}: {process.stderr.decode()}")
    return wall, int(rss) / 1024


def write_job(work, cases, port, concurrency):
    with open(os.path.join(work, "cases.jsonl"), "w") as f:
        for i in range(cases):
            f.write(json.dumps({"id": f"c{i}", "input": f"MOCK_REPLY: refunds take 30 days ({i})"}) + "\n")
    with open(os.path.join(work, "job.yaml"), "w") as f:
        f.write(f"""backends:
  bot: {{type: openai, baseURL: "http://127.0.0.1:{port}/v1", model: m}}
dataset: cases.jsonl
run: {{concurrency: {concurrency}}}
evaluate:
  metrics: [{{type: contains, value: "30 days"}}]
""")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--merge-cases", type=int, default=0)
    options = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ct-indexed-")
    port = free_port()
    mock = subprocess.Popen([binary, "mock-server", "--port", str(port), "--latency-ms", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    moto = subprocess.Popen([sys.executable, os.path.join(root, "ops/s3-test-server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    info = json.loads(moto.stdout.readline())
    env = dict(os.environ, AWS_ENDPOINT_URL_S3=info["endpoint"], AWS_ACCESS_KEY_ID=info["accessKeyId"],
               AWS_SECRET_ACCESS_KEY=info["secretAccessKey"], AWS_REGION=info["region"])
    try:
        write_job(work, options.cases, port, options.concurrency)
        w = options.workers
        local = timed([["test", "job.yaml", "--out", "out-local", "--no-progress", "--workers", str(w)]], work, env)
        print(f"test --workers {w}, local disk: {options.cases} cases in {local:6.2f} s = {options.cases / local:6.0f} cases/s")
        store = f"s3://{info['bucket']}/bench/{os.getpid()}"
        plan = timed([["plan", "job.yaml", "--store", store, "--shards", str(w), "--parallelism", str(w)]], work, env)
        workers = timed([["worker", "--store", store, "--shard", str(i)] for i in range(w)], work, env)
        merge = timed([["merge", "--store", store, "--out", "out-indexed", "--no-progress"]], work, env)
        total = plan + workers + merge
        print(f"indexed on S3, {w} workers: plan {plan:5.2f} s + workers {workers:6.2f} s + merge {merge:5.2f} s = {total:6.2f} s "
              f"= {options.cases / total:6.0f} cases/s ({total / local:4.2f}x the local --workers run)")
        import boto3
        s3 = boto3.client("s3", endpoint_url=info["endpoint"], region_name=info["region"], aws_access_key_id=info["accessKeyId"],
                          aws_secret_access_key=info["secretAccessKey"])
        sizes, counts = {}, {}
        prefix = f"bench/{os.getpid()}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=info["bucket"], Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(prefix):]
                kind = key.split("/")[0] if "/" in key else "outputs"
                sizes[kind] = sizes.get(kind, 0) + item["Size"]
                counts[kind] = counts.get(kind, 0) + 1
        for kind in sorted(sizes):
            print(f"  store {kind:>9}: {counts[kind]:5d} objects, {sizes[kind] / 1e6:8.2f} MB")
        print(f"  store     total: {sum(counts.values()):5d} objects, {sum(sizes.values()) / 1e6:8.2f} MB")

        if options.merge_cases:
            n = options.merge_cases
            line = None
            # One real journaled record, its id and index rewritten n times: trivial records.
            for key in sorted(s3.list_objects_v2(Bucket=info["bucket"], Prefix=prefix + "journals/shard-00000/")["Contents"], key=lambda k: k["Key"]):
                body = s3.get_object(Bucket=info["bucket"], Key=key["Key"])["Body"].read().decode()
                line = next(l for l in body.split("\n") if l)
                break
            record = json.loads(line)
            sample, index = record["sampleId"], record["index"]
            big = os.path.join(work, "big")
            os.makedirs(big)
            write_job(big, n, port, options.concurrency)
            fstore = os.path.join(big, "store")
            timed([["plan", "job.yaml", "--store", fstore, "--shards", "4"]], big, env)
            id_pattern = re.compile(re.escape(json.dumps(sample)))
            index_pattern = re.compile(r'"index":' + str(index) + r'\b')
            per = (n + 3) // 4
            for shard in range(4):
                directory = os.path.join(fstore, "journals", f"shard-{shard:05d}")
                os.makedirs(directory)
                with open(os.path.join(directory, "0000000000000-00000000.jsonl"), "w") as f:
                    for i in range(shard * per, min(n, (shard + 1) * per)):
                        f.write(index_pattern.sub(f'"index":{i}', id_pattern.sub(f'"c{i}"', line)) + "\n")
            wall, rss = peak_rss(["merge", "--store", fstore, "--no-progress"], big, env)
            print(f"merge of {n} journaled records (file store): {wall:6.2f} s, peak RSS {rss:6.0f} MB")
    finally:
        mock.terminate()
        moto.stdin.close()
        moto.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
