"""Prints the scoring API's p50/p99 latency for 100-flow JSON requests under a bounded load.

Usage: ``nice -n 10 .venv/bin/python benchmarks/api_latency.py [--requests 2000] [--concurrency 2] [--columnar]``

A real ``privids serve`` process (uvicorn, 127.0.0.1, a free port) serves a briefly trained
reference MLP; this process is the load generator: ``--concurrency`` keep-alive httpx clients in
a closed loop (each sends its next request when the previous answer arrived), so the load is
bounded. Each request holds 100 real CIC-IDS2017 flows (raw header names, Infinity as a string).
Latency is measured client-side per request. Target (issue 9): p99 < 20 ms. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

_MLCVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cicids2017" / "machinelearningcve"
TRAIN = _MLCVE / "friday_ddos_sample_pecord.csv"


_JSON = {"Content-Type": "application/json"}


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (Linux), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _model(tmp: Path) -> tuple[Path, Path]:
    import torch

    from privids.artifacts import save_detector
    from privids.config import DataConfig, TrainConfig
    from privids.evaluation.detectors import train_detector
    from privids.features import prepare_data

    torch.set_num_threads(1)
    src = TRAIN
    if not src.exists():
        from privids.data.demo import generate_demo_flows

        src = Path(generate_demo_flows(5_000, rng=0, path=tmp / "demo").paths[0])
    data = prepare_data(src, DataConfig(), rng=0)
    cfg = TrainConfig(epochs=1)
    return save_detector(tmp / "model", train_detector(data, cfg, rng=0), data, train_cfg=cfg), src


def _bodies(src: Path, names: tuple[str, ...], rng: np.random.Generator, k: int, *, columnar: bool) -> list[bytes]:
    from privids.data import load_flows

    X = load_flows(src, mode="score").matrix(names)
    out = []
    for _ in range(k):
        rows = X[rng.choice(len(X), size=100, replace=False)]
        flows = [{" " + n: (v if math.isfinite(v) else ("NaN" if math.isnan(v) else "Infinity"))
                  for n, v in zip(names, row, strict=True)} for row in rows.tolist()]
        body: object = {"columns": list(flows[0]), "rows": [list(f.values()) for f in flows]} if columnar else flows
        # Encoded once up front: the client's JSON encoding is not the server's latency.
        out.append(json.dumps(body).encode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--columnar", action="store_true", help='Send {"columns": [...], "rows": [[...]]} bodies.')
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="privids-api-") as tmpdir:
        model_dir, src = _model(Path(tmpdir))
        from privids.artifacts import load_artifact

        names = load_artifact(model_dir).feature_names
        bodies = _bodies(src, names, np.random.default_rng(0), 32, columnar=args.columnar)
        port = _free_port()
        cli = [sys.executable, "-c", "from privids.cli import main; main()"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        server = subprocess.Popen([*cli, "serve", "--model", str(model_dir), "--port", str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("server did not start")
                time.sleep(0.2)
            latencies: list[float] = []
            lock = threading.Lock()
            per_client = args.requests // args.concurrency

            def client(seed: int, n: int, record: bool) -> None:
                with httpx.Client(base_url=base, timeout=10) as c:
                    for i in range(n):
                        body = bodies[(seed * 7919 + i) % len(bodies)]
                        t = time.perf_counter()
                        r = c.post("/score", content=body, headers=_JSON)
                        dt = time.perf_counter() - t
                        if r.status_code != 200 or r.json()["n"] != 100:
                            raise SystemExit(f"bad response {r.status_code}: {r.text[:200]}")
                        if record:
                            with lock:
                                latencies.append(dt)

            client(0, args.warmup, record=False)
            threads = [threading.Thread(target=client, args=(s, per_client, True)) for s in range(args.concurrency)]
            start, cpu0 = time.perf_counter(), _cpu_seconds(server.pid)
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall, server_cpu = time.perf_counter() - start, _cpu_seconds(server.pid) - cpu0
        finally:
            server.terminate()
            server.wait(timeout=10)
        ms = np.array(latencies) * 1e3
        form = "columnar JSON" if args.columnar else "JSON objects"
        print(f"{len(ms)} requests x 100 flows ({form}, {len(bodies[0]) // 1024} KiB), {args.concurrency} concurrent "
              f"keep-alive clients, loopback, {len(names)} features")
        print(f"  p50 {np.percentile(ms, 50):.2f} ms   p90 {np.percentile(ms, 90):.2f} ms   "
              f"p99 {np.percentile(ms, 99):.2f} ms   max {ms.max():.2f} ms")
        print(f"  throughput {len(ms) / wall:.0f} requests/s = {100 * len(ms) / wall / 1e3:.1f} k flows/s")
        # On a shared box the latency mostly measures waiting for a core; the server's own CPU per
        # request is what an idle core would add to each request.
        print(f"  server CPU per request {1e3 * server_cpu / len(ms):.2f} ms "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
