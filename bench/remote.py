"""Checkpoints in object storage: tfckpt against boto3 on a local S3 server (SeaweedFS).

Usage: python3 bench/remote.py [--runs 3] [--bin DIR] [--python DIR] [--cache DIR]
                              [--concurrency N]

Starts `weed server -s3` on loopback (with an identity, so that every request is signed), uploads
the BERT-base (1.3 GB) and BERT-large (4.0 GB) checkpoints of bench/inputs.py with boto3, then
measures, median of --runs runs:

  download   boto3's download_file of the BERT-base data file and index (its TransferManager
             with the default TransferConfig: 10 threads, 8 MB parts) into a temporary
             directory: the throughput to match
  verify     `tfckpt verify s3://.../bert-base/model.ckpt`: every byte fetched and its CRC32C
             checked; its throughput is set against download's (target: at least 0.8 x)
  ls         `tfckpt.open()` of the remote BERT-large and listing it: bytes fetched against the
             index's size (target: at most index + 64 KiB)
  transfer   `tfckpt.transfer()` of one encoder layer's scope (with its Adam slots) from the
             remote BERT-base: bytes fetched against the scope's bytes (target: at most 1.1 x)
  in-store   the same scope with its Adam slots transferred into the same bucket
             (`-o s3://...`): the store copies the scope's byte range (UploadPartCopy); bytes
             fetched against the index's size, time against fetching the scope
  upload     `tfckpt edit BERT-base --strip-optimizer -o s3://...` (written to a staging
             directory, then uploaded, index last) against the same edit written locally plus
             boto3's `upload_file` of its two files

Bytes fetched are tfckpt.remote_counters() in the process that did the work. Peak RSS of verify
is GNU time's. Nothing is written to bench/cache but the inputs (made by inputs.py if missing).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from run import measure  # noqa: E402
import remote_testlib as rt  # noqa: E402  (the server launcher the tests use)

DATA = ".data-00000-of-00001"
SCOPE = "bert/encoder/layer_3/"


def in_python(code, env):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=os.environ.get("TFCKPT_BIN_DIR",
                                                    os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--python", default=os.path.join(ROOT, "build", "python"),
                    help="where the tfckpt package is (for the ls and transfer jobs)")
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--concurrency", type=int, default=0,
                    help="tfckpt's --remote-concurrency (default: its own)")
    args = ap.parse_args()
    tfckpt = os.path.join(os.path.abspath(args.bin), "tfckpt")
    subprocess.run([sys.executable, os.path.join(HERE, "inputs.py"), args.cache], check=True)
    base = os.path.join(args.cache, "bert-base", "model.ckpt")
    large = os.path.join(args.cache, "bert-large", "model.ckpt")

    with tempfile.TemporaryDirectory() as work:
        server = rt.S3Server(os.path.join(work, "s3"), identity=True, volume_mb=1024)
        try:
            env = dict(os.environ, AWS_ACCESS_KEY_ID=rt.ACCESS_KEY,
                       AWS_SECRET_ACCESS_KEY=rt.SECRET_KEY, AWS_REGION=rt.REGION,
                       AWS_ENDPOINT_URL=server.endpoint)
            env["PYTHONPATH"] = os.pathsep.join(
                [os.path.abspath(args.python)] +
                [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
            os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                   "AWS_REGION", "AWS_ENDPOINT_URL")})
            bucket = server.bucket("bench")
            t = time.perf_counter()
            server.upload_checkpoint(base, bucket, "bert-base/model.ckpt")
            server.upload_checkpoint(large, bucket, "bert-large/model.ckpt")
            print(f"remote.py: uploaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            base_bytes = os.path.getsize(base + DATA) + os.path.getsize(base + ".index")

            # download: boto3's TransferManager with its defaults.
            downloads = []
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory(dir=work) as d:
                    t = time.perf_counter()
                    for suffix in (".index", DATA):
                        server.client.download_file(bucket, "bert-base/model.ckpt" + suffix,
                                                    os.path.join(d, "m" + suffix))
                    downloads.append(time.perf_counter() - t)
            download = statistics.median(downloads)

            # verify: tfckpt, every byte fetched and checked.
            extra = (["--remote-concurrency", str(args.concurrency)] if args.concurrency else [])
            verifies = []
            with tempfile.TemporaryDirectory() as log_dir:
                for _ in range(args.runs):
                    verifies.append(measure([tfckpt, "verify", "s3://bench/bert-base/model.ckpt",
                                             *extra], log_dir))
            verify = {k: statistics.median(r[k] for r in verifies) for k in verifies[0]}

            # ls: bytes fetched to open and list the remote BERT-large.
            ls = in_python(
                "import json, time, tfckpt\n"
                "t = time.perf_counter()\n"
                "c = tfckpt.open('s3://bench/bert-large/model.ckpt')\n"
                "n = len(c.names())\n"
                "d = dict(tfckpt.remote_counters(), tensors=n, wall=time.perf_counter() - t)\n"
                "print(json.dumps(d))\n", env)
            index_bytes = os.path.getsize(large + ".index")

            # transfer: bytes fetched for one scope.
            scope = in_python(
                "import json, tfckpt\n"
                "c = tfckpt.open(%r)\n"
                "print(json.dumps(sum(c.read(n).nbytes for n in c.names()\n"
                "                     if n.startswith(%r))))\n" % (base, SCOPE), env)
            with tempfile.TemporaryDirectory(dir=work) as d:
                transfer = in_python(
                    "import json, time, tfckpt\n"
                    "t = time.perf_counter()\n"
                    "tfckpt.transfer([('s3://bench/bert-base/model.ckpt', {%r: %r})], %r)\n"
                    "print(json.dumps(dict(tfckpt.remote_counters(),"
                    " wall=time.perf_counter() - t)))\n"
                    % (SCOPE, SCOPE, os.path.join(d, "out")), env)

            # in-store: the scope and its slots into the bucket, copied by the store; against
            # the same scope fetched into a local output.
            in_store, fetched = [], []
            for run in range(args.runs):
                for out, runs in (("s3://bench/scope-%d/model" % run, in_store),
                                  (os.path.join(work, "scope-%d" % run, "model"), fetched)):
                    runs.append(in_python(
                        "import json, time, tfckpt\n"
                        "t = time.perf_counter()\n"
                        "r = tfckpt.transfer([('s3://bench/bert-base/model.ckpt', {%r: %r})], %r,"
                        " include_optimizer=True)\n"
                        "print(json.dumps(dict(tfckpt.remote_counters(), data=r['data'],"
                        " wall=time.perf_counter() - t)))\n"
                        % (SCOPE, SCOPE, out), env))
            in_store_s = statistics.median(r["wall"] for r in in_store)
            fetched_s = statistics.median(r["wall"] for r in fetched)

            # upload: tfckpt writing to the bucket, against a local write + boto3's upload.
            uploads, local_then_boto3 = [], []
            with tempfile.TemporaryDirectory() as log_dir:
                for run in range(args.runs):
                    uploads.append(measure([tfckpt, "edit", base, "--strip-optimizer", "-o",
                                            "s3://bench/stripped/model", "--force"], log_dir))
                    out = os.path.join(work, "stripped-%d" % run, "model")
                    t = time.perf_counter()
                    subprocess.run([tfckpt, "edit", base, "--strip-optimizer", "-o", out],
                                   check=True, stdout=subprocess.DEVNULL)
                    for suffix in (DATA, ".index"):
                        server.client.upload_file(out + suffix, bucket,
                                                  "boto3-%d/model%s" % (run, suffix))
                    local_then_boto3.append(time.perf_counter() - t)
            upload = {k: statistics.median(r[k] for r in uploads) for k in uploads[0]}
            stripped_bytes = os.path.getsize(out + DATA) + os.path.getsize(out + ".index")
        finally:
            server.stop()

    gb = base_bytes / 1e9
    results = {
        "download_s": download, "download_gbps": gb / download,
        "verify_s": verify["wall"], "verify_gbps": gb / verify["wall"],
        "verify_vs_download": download / verify["wall"], "verify_rss_mib": verify["rss"] / 1024,
        "ls_bytes": ls["bytes"], "ls_requests": ls["requests"], "index_bytes": index_bytes,
        "ls_s": ls["wall"],
        "transfer_bytes": transfer["bytes"], "scope_bytes": scope,
        "transfer_vs_scope": transfer["bytes"] / scope, "transfer_s": transfer["wall"],
        "in_store_s": in_store_s, "in_store_fetched_bytes": in_store[0]["bytes"],
        "in_store_copied_bytes": in_store[0]["data"]["bytes_range_copied_in_store"],
        "scope_with_slots_fetched_s": fetched_s,
        "scope_with_slots_bytes": fetched[0]["bytes"],
        "upload_s": upload["wall"], "upload_rss_mib": upload["rss"] / 1024,
        "local_then_boto3_s": statistics.median(local_then_boto3),
        "uploaded_bytes": stripped_bytes,
    }
    print(json.dumps(results, indent=1))
    print(f"| boto3 download_file, BERT-base ({gb:.2f} GB) | {download:.2f} s "
          f"| {gb / download:.2f} GB/s |")
    print(f"| tfckpt verify s3://… (fetch + CRC) | {verify['wall']:.2f} s "
          f"| {gb / verify['wall']:.2f} GB/s = {download / verify['wall']:.2f} x boto3; "
          f"peak RSS {verify['rss'] / 1024:.0f} MiB |")
    print(f"| ls of remote BERT-large | {ls['wall']:.2f} s | {ls['bytes']} bytes fetched in "
          f"{ls['requests']} requests; index {index_bytes} bytes |")
    print(f"| transfer of {SCOPE} | {transfer['wall']:.2f} s | {transfer['bytes']} bytes fetched"
          f" for a scope of {scope} bytes = {transfer['bytes'] / scope:.3f} x |")
    print(f"| transfer of {SCOPE} with its slots, s3:// to s3:// | {in_store_s:.2f} s "
          f"| {in_store[0]['data']['bytes_range_copied_in_store']} bytes copied by the store, "
          f"{in_store[0]['bytes']} bytes fetched; into a local output: {fetched_s:.2f} s, "
          f"{fetched[0]['bytes']} bytes fetched |")
    lt = statistics.median(local_then_boto3)
    print(f"| edit --strip-optimizer -o s3://… ({stripped_bytes / 1e9:.2f} GB) "
          f"| {upload['wall']:.2f} s | local edit + boto3 upload_file: {lt:.2f} s "
          f"({upload['wall'] / lt:.2f} x); peak RSS {upload['rss'] / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
