#!/usr/bin/env python
"""Load on ``qpvgeo serve``: single checks under concurrent clients, and a 100 000-row file.

    python benchmarks/bench_server.py                      # 2 workers, 8 clients, 15 s
    python benchmarks/bench_server.py --workers 1 --clients 4 --seconds 5

Starts the real server (uvicorn, in a subprocess on 127.0.0.1, embedded data), then drives
``GET /api/check`` from ``--clients`` threads with keep-alive connections for ``--seconds``,
each request a different point (half near quartiers), and prints requests per second and the
p50/p99 latency; then sends a 100 000-row CSV through ``POST /api/check-file`` and times it from
the upload to the downloaded result. Targets (2 cores): ≥ 500 checks/s with p99 < 50 ms; the
100 000-row file in < 10 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, table  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "QPVGEO_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "qpvgeo", "-q", "serve", "--port", str(port), "--workers",
                             str(workers), "--max-upload-mb", "200"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def load(port: int, clients: int, seconds: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = 200_000
    lon = np.where(rng.random(n) < 0.5, rng.normal(2.26, 0.01, n), rng.uniform(1.6, 3.1, n))
    lat = np.where(rng.random(n) < 0.5, rng.normal(50.75, 0.01, n), rng.uniform(50.0, 51.0, n))
    paths = [f"/api/check?lon={a:.6f}&lat={b:.6f}" for a, b in zip(lon, lat)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = k
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            conn.request("GET", paths[i % n])
            resp = conn.getresponse()
            resp.read()
            latencies[k].append(time.perf_counter() - t0)
            if resp.status != 200:
                errors[k] += 1
            i += clients
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    lat_ms = np.concatenate([np.asarray(x) for x in latencies]) * 1000
    return {"requests": int(lat_ms.size), "req_per_s": round(lat_ms.size / elapsed), "p50_ms": round(float(
        np.percentile(lat_ms, 50)), 2), "p99_ms": round(float(np.percentile(lat_ms, 99)), 2), "errors": sum(errors)}


def big_file(port: int, rows: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.csv"
        lon, lat = rng.uniform(1.6, 3.1, rows), rng.uniform(50.0, 51.0, rows)
        src.write_text("id;lon;lat\n" + "".join(f"{i};{a:.6f};{b:.6f}\n" for i, (a, b) in enumerate(zip(lon, lat))))
        boundary = "qpvgeo-bench"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"lon_col\"\r\n\r\nlon\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"lat_col\"\r\n\r\nlat\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"async\"\r\n\r\ntrue\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
                "Content-Type: text/csv\r\n\r\n").encode() + src.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", "/api/check-file", body=body,
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        job = json.loads(conn.getresponse().read())
        while job["state"] in ("queued", "running"):
            time.sleep(0.05)
            conn.request("GET", f"/api/jobs/{job['job']}")
            job = json.loads(conn.getresponse().read())
        conn.request("GET", job["download"])
        data = conn.getresponse().read()
        seconds = time.perf_counter() - t0
        out_rows = data.count(b"\n") - 1
    return {"rows": rows, "upload_mb": round(len(body) / 1e6, 1), "seconds": round(seconds, 2),
            "rows_back": out_rows, "state": job["state"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    proc, port = start(args.workers)
    try:
        load(port, 2, 1.0, args.seed + 1)  # warm up every worker
        r = load(port, args.clients, args.seconds, args.seed)
        print(table([{"workers": args.workers, "clients": args.clients, **r,
                      "target": "≥ 500 req/s, p99 < 50 ms"}]))
        f = big_file(port, args.rows, args.seed)
        print(table([{**f, "target": "< 10 s"}]))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
