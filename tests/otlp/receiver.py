#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A minimal OTLP/HTTP profiles receiver for the end-to-end tests.

It listens on 127.0.0.1 only and stores every request it gets in a
directory, so a test can decode exactly what the agent sent:

  DIR/NNNN.body     the request body, gunzipped if Content-Encoding: gzip
  DIR/NNNN.raw      the body as it came over the wire (only when gzipped)
  DIR/NNNN.json     method, path, headers, status answered, arrival time
  DIR/log           one line per request: N TIME METHOD PATH STATUS BYTES

NNNN counts from 0001 in order of arrival. The answer is an empty
ExportProfilesServiceResponse (a zero-length protobuf body) with status 200,
unless a failure script says otherwise:

  --script 503:1,500,200   the first request gets 503 with Retry-After: 1,
                           the second 500, the third 200; the rest 200.
  --script-file FILE       the same list read from FILE at each request,
                           so a test can change it while the receiver runs.

A request whose body cannot be gunzipped gets 400 (and is stored raw).
A request to another path than /v1development/profiles gets 404.

Why it is built this way: the tests need to see the agent's behaviour
against a real HTTP server (connection handling, headers, status codes,
Retry-After), not a mock inside the agent, and nothing outside the Python
standard library may be needed. It must never outlive a test: it stops
after --max-lifetime seconds (default 120) whatever happens, and --delay
starts it "down": the port is not bound until DELAY seconds have passed.

Usage: receiver.py --dir DIR [--port N | --port-file FILE] [--delay SEC]
                   [--script LIST | --script-file FILE] [--max-lifetime SEC]
With --port 0 (the default) a free port is picked; it is written to
--port-file (atomically, once listening) if one is given.
"""

import argparse
import gzip
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import zlib

PATH = "/v1development/profiles"
# Bound on what a single request may carry, so a broken sender cannot fill the disk.
MAX_BODY = 64 << 20


def parse_script(text):
    """'503:1,500,200' -> [(503, '1'), (500, None), (200, None)]."""
    out = []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        code, _, retry = item.partition(":")
        out.append((int(code), retry or None))
    return out


class State:
    def __init__(self, args):
        self.dir = args.dir
        self.script = parse_script(args.script or "")
        self.script_file = args.script_file
        self.lock = threading.Lock()
        self.count = 0

    def answer_for(self, n):
        """The (status, retry_after) for the n-th request (1-based)."""
        script = self.script
        if self.script_file:
            try:
                with open(self.script_file, encoding="ascii") as f:
                    script = parse_script(f.read())
            except FileNotFoundError:
                script = []
        if n <= len(script):
            return script[n - 1]
        return (200, None)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "emberprof-test-receiver"

    def log_message(self, fmt, *args):  # noqa: A003 - quiet: the log file says it all
        pass

    def do_POST(self):  # noqa: N802 - the name http.server calls
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self.reply(413, None)
            return
        raw = self.rfile.read(length)
        with st.lock:
            st.count += 1
            n = st.count
        status, retry = st.answer_for(n)
        body = raw
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding == "gzip":
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                status, retry = 400, None
                body = raw
        if self.path != PATH:
            status, retry = 404, None
        base = os.path.join(st.dir, "%04d" % n)
        # The body first and the metadata last (both by rename), so that a
        # test that sees NNNN.json also sees the complete body.
        write_atomic(base + ".body", body)
        if encoding == "gzip":
            write_atomic(base + ".raw", raw)
        meta = {
            "n": n,
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "status": status,
            "retry_after": retry,
            "wire_bytes": len(raw),
            "bytes": len(body),
        }
        write_atomic(base + ".json", json.dumps(meta, indent=1).encode())
        with open(os.path.join(st.dir, "log"), "a", encoding="ascii") as f:
            f.write("%d %.3f %s %s %d %d\n" % (n, meta["time"], self.command, self.path, status, len(body)))
        self.reply(status, retry)

    def do_GET(self):  # noqa: N802
        self.reply(405, None)

    def reply(self, status, retry):
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        if retry is not None:
            self.send_header("Retry-After", retry)
        # An empty ExportProfilesServiceResponse: every field at its default.
        self.send_header("Content-Length", "0")
        self.end_headers()


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="OTLP/HTTP profiles receiver for tests")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before listening")
    ap.add_argument("--script", help="statuses for the first requests, e.g. 503:1,500,200")
    ap.add_argument("--script-file", help="file holding such a list, read per request")
    ap.add_argument("--max-lifetime", type=float, default=120.0)
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    deadline = time.monotonic() + args.max_lifetime
    if args.delay > 0:
        time.sleep(min(args.delay, args.max_lifetime))
    if time.monotonic() >= deadline:
        return 0
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    port = srv.server_address[1]
    if args.port_file:
        write_atomic(args.port_file, b"%d\n" % port)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
