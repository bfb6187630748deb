"""Ingest benchmark: privids load + clean + split against pandas and a bare polars parse.

Generates (once, then reuses) eight day files shaped like the full CIC-IDS2017 MachineLearningCVE
set: the real 79-column header (leading spaces, ``Fwd Header Length`` twice), the real per-day
label counts (2,830,743 flows), ``Infinity``/``NaN`` rates, ``-1`` window sizes, constant bulk
columns, ~8% duplicate flows, the cp1252 0x96 dash in the web-attack labels, CRLF files and
comma-only padding rows. Then, in one process, it measures:

* privids: ``load_flows`` + ``prepare_data`` (clean, dedup, features, stratified split, scaling);
* the reference notebook's pandas pipeline: ``read_csv`` per day, ``concat``, replace inf,
  ``dropna``, ``StandardScaler``;
* a bare parse: polars ``scan_csv`` with an explicit Float32 schema (stack-probe section 4);
* a cached reload (``load_flows`` with ``cache_dir`` a second time).

Peak memory is sampled from ``/proc/self/status`` (VmRSS) every 10 ms during each phase.

Usage::

    nice -n 10 .venv/bin/python benchmarks/ingest.py [--dir /tmp/privids-ingest] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

from privids.config import DataConfig
from privids.data import load_flows
from privids.features import prepare_data

# The real MachineLearningCVE header (65 names with a leading space, Fwd Header Length twice).
HEADER = (
    " Destination Port, Flow Duration, Total Fwd Packets, Total Backward Packets,Total Length of Fwd Packets,"
    " Total Length of Bwd Packets, Fwd Packet Length Max, Fwd Packet Length Min, Fwd Packet Length Mean,"
    " Fwd Packet Length Std,Bwd Packet Length Max, Bwd Packet Length Min, Bwd Packet Length Mean,"
    " Bwd Packet Length Std,Flow Bytes/s, Flow Packets/s, Flow IAT Mean, Flow IAT Std, Flow IAT Max,"
    " Flow IAT Min,Fwd IAT Total, Fwd IAT Mean, Fwd IAT Std, Fwd IAT Max, Fwd IAT Min,Bwd IAT Total,"
    " Bwd IAT Mean, Bwd IAT Std, Bwd IAT Max, Bwd IAT Min,Fwd PSH Flags, Bwd PSH Flags, Fwd URG Flags,"
    " Bwd URG Flags, Fwd Header Length, Bwd Header Length,Fwd Packets/s, Bwd Packets/s, Min Packet Length,"
    " Max Packet Length, Packet Length Mean, Packet Length Std, Packet Length Variance,FIN Flag Count,"
    " SYN Flag Count, RST Flag Count, PSH Flag Count, ACK Flag Count, URG Flag Count, CWE Flag Count,"
    " ECE Flag Count, Down/Up Ratio, Average Packet Size, Avg Fwd Segment Size, Avg Bwd Segment Size,"
    " Fwd Header Length,Fwd Avg Bytes/Bulk, Fwd Avg Packets/Bulk, Fwd Avg Bulk Rate, Bwd Avg Bytes/Bulk,"
    " Bwd Avg Packets/Bulk,Bwd Avg Bulk Rate,Subflow Fwd Packets, Subflow Fwd Bytes, Subflow Bwd Packets,"
    " Subflow Bwd Bytes,Init_Win_bytes_forward, Init_Win_bytes_backward, act_data_pkt_fwd,"
    " min_seg_size_forward,Active Mean, Active Std, Active Max, Active Min,Idle Mean, Idle Std, Idle Max,"
    " Idle Min, Label"
)
NAMES = HEADER.split(",")
DASH = "\x00DASH\x00"  # replaced by the raw cp1252 byte 0x96 after writing

# The real MachineLearningCVE day files and their label counts (2,830,743 flows in all).
DAYS: dict[str, dict[str, int]] = {
    "Monday-WorkingHours.pcap_ISCX.csv": {"BENIGN": 529918},
    "Tuesday-WorkingHours.pcap_ISCX.csv": {"BENIGN": 432074, "FTP-Patator": 7938, "SSH-Patator": 5897},
    "Wednesday-workingHours.pcap_ISCX.csv": {"BENIGN": 440031, "DoS Hulk": 231073, "DoS GoldenEye": 10293,
                                             "DoS slowloris": 5796, "DoS Slowhttptest": 5499, "Heartbleed": 11},
    "Thursday-WorkingHours-Morning-WebAttacks.pcap_ISCX.csv": {
        "BENIGN": 168186, f"Web Attack {DASH} Brute Force": 1507, f"Web Attack {DASH} XSS": 652,
        f"Web Attack {DASH} Sql Injection": 21},
    "Thursday-WorkingHours-Afternoon-Infilteration.pcap_ISCX.csv": {"BENIGN": 288566, "Infiltration": 36},
    "Friday-WorkingHours-Morning.pcap_ISCX.csv": {"BENIGN": 189067, "Bot": 1966},
    "Friday-WorkingHours-Afternoon-PortScan.pcap_ISCX.csv": {"BENIGN": 127537, "PortScan": 158930},
    "Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.csv": {"BENIGN": 97718, "DDoS": 128027},
}  # fmt: skip
_CONSTANT = {" Bwd PSH Flags", " Bwd URG Flags", "Fwd Avg Bytes/Bulk", " Fwd Avg Packets/Bulk", " Fwd Avg Bulk Rate",
             " Bwd Avg Bytes/Bulk", " Bwd Avg Packets/Bulk", "Bwd Avg Bulk Rate"}  # fmt: skip
_FLOAT_HINTS = ("Mean", "Std", "Variance", "/s", "Ratio", "Average", "Avg")


def _day_frame(counts: dict[str, int], rng: np.random.Generator, scale: float) -> pl.DataFrame:
    labels = np.concatenate([np.full(max(1, int(n * scale)), lab, dtype=object) for lab, n in counts.items()])
    rng.shuffle(labels)
    n = labels.size
    attack = labels != "BENIGN"
    cols: dict[str, object] = {}
    for j, name in enumerate(NAMES[:-1]):
        key = f"c{j}"
        if name in _CONSTANT:
            cols[key] = np.zeros(n, dtype=np.int64)
        elif name.strip() == "Destination Port":
            cols[key] = rng.choice([80, 443, 53, 22, 21, 8080, 139, 445], size=n) * np.where(rng.random(n) < 0.9, 1, 0) + (
                rng.integers(1024, 65535, n) * (rng.random(n) >= 0.9)
            )
        elif any(h in name for h in _FLOAT_HINTS):
            v = rng.lognormal(3 + 2 * attack, 2.5, n) * (rng.random(n) < 0.6)
            cols[key] = np.round(v, 4)
        elif "Flag" in name:
            cols[key] = (rng.random(n) < 0.3).astype(np.int64)
        elif name.strip() in ("Init_Win_bytes_forward", "Init_Win_bytes_backward"):
            cols[key] = np.where(rng.random(n) < 0.4, -1, rng.integers(0, 65535, n))
        elif "Duration" in name or "IAT" in name or "Idle" in name or "Active" in name:
            cols[key] = np.minimum(rng.lognormal(8, 4, n), 119_999_999).astype(np.int64) * (rng.random(n) < 0.5)
        else:
            cols[key] = rng.integers(0, 2000, n)
    cols["c55"] = cols["c34"]  # the duplicated Fwd Header Length: identical copies
    df = pl.DataFrame(cols)
    # Flow Bytes/s (14) and Flow Packets/s (15): Infinity / NaN where the duration is 0.
    zero = rng.random(n) < 0.0006
    nan = zero & (rng.random(n) < 0.4)
    for k in ("c14", "c15"):
        text = df[k].cast(pl.String)
        text = pl.select(pl.when(pl.Series(zero)).then(pl.lit("Infinity")).otherwise(text)).to_series()
        if k == "c14":
            text = pl.select(pl.when(pl.Series(nan)).then(pl.lit("NaN")).otherwise(text)).to_series()
        df = df.with_columns(text.alias(k))
    df = df.with_columns(pl.Series("label", labels.astype(str)))
    # ~8% exact duplicate flows, as in the real data
    dup = rng.choice(n, size=int(0.08 * n), replace=False)
    return pl.concat([df, df[np.sort(dup)]]).sample(fraction=1.0, shuffle=True, seed=int(rng.integers(1 << 31)))


def generate(folder: Path, scale: float, seed: int = 0) -> list[Path]:
    """Write the day files (skipped when they already exist at this scale)."""
    stamp = folder / f".generated-{scale}"
    if stamp.exists():
        return sorted(folder.glob("*.csv"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i, (name, counts) in enumerate(DAYS.items()):
        df = _day_frame(counts, rng, scale)
        body = df.write_csv(include_header=False)
        if DASH in body:
            data = body.encode().replace(DASH.encode(), b"\x96")
        else:
            data = body.encode()
        if i % 2 == 0:
            data = data.replace(b"\n", b"\r\n")
        eol = b"\r\n" if i % 2 == 0 else b"\n"
        if "WebAttacks" in name:
            data += (b"," * 78 + eol) * 2000  # comma-only padding rows at the end of the file
        (folder / name).write_bytes(HEADER.encode() + eol + data)
        del df, body, data
    stamp.write_text("ok")
    return sorted(folder.glob("*.csv"))


class PeakRSS:
    """Samples VmRSS every 10 ms while active; ``peak`` in bytes."""

    def __enter__(self) -> PeakRSS:
        gc.collect()
        _trim()
        self.base = _rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def bare_polars(files: list[Path]) -> int:
    schema = {f"column_{i + 1}": pl.Float32 for i in range(78)} | {"column_79": pl.String}
    frames = [
        pl.scan_csv(f, has_header=False, skip_rows=1, schema=schema, encoding="utf8-lossy").collect() for f in files
    ]
    return sum(f.height for f in frames)


def pandas_pipeline(files: list[Path]) -> int:
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    df = pd.concat([pd.read_csv(f, encoding="cp1252") for f in files], ignore_index=True)
    df.columns = df.columns.str.strip()
    df = df.replace([np.inf, -np.inf], np.nan).dropna()
    X = StandardScaler().fit_transform(df.drop(columns=["Label"]).to_numpy(dtype=np.float64))
    return int(X.shape[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/tmp/privids-ingest", help="where the generated day files live")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the 2.83 M flows to generate")
    ap.add_argument("--skip-pandas", action="store_true", help="leave out the (slow, memory-hungry) pandas run")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    folder = Path(args.dir)
    t = time.perf_counter()
    files = generate(folder / "csv", args.scale)
    gen_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in files)
    cache = folder / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    results: dict[str, dict[str, float]] = {}

    def record(name: str, probe: PeakRSS, rows: int) -> None:
        results[name] = {"seconds": round(probe.seconds, 2), "cpu_seconds": round(probe.cpu, 2),
                         "peak_rss_gb": round(probe.peak / 2**30, 2),
                         "delta_rss_gb": round((probe.peak - probe.base) / 2**30, 2), "rows": rows}  # fmt: skip

    with PeakRSS() as p:
        data = prepare_data(folder / "csv", DataConfig(cache=False))
        rows = len(data.train) + len(data.val) + len(data.test)
    record("privids load+clean+split", p, rows)
    del data
    with PeakRSS() as p:
        rows = len(load_flows(folder / "csv", cache_dir=cache))
    record("privids load + cache write", p, rows)
    with PeakRSS() as p:
        rows = len(load_flows(folder / "csv", cache_dir=cache))
    record("privids cached reload", p, rows)
    with PeakRSS() as p:
        rows = bare_polars(files)
    record("bare polars scan_csv (Float32)", p, rows)
    if not args.skip_pandas:
        with PeakRSS() as p:
            rows = pandas_pipeline(files)
        record("pandas notebook pipeline", p, rows)

    ours = results["privids load+clean+split"]["seconds"]
    bare = results["bare polars scan_csv (Float32)"]["seconds"]
    ours_cpu = results["privids load+clean+split"]["cpu_seconds"]
    bare_cpu = results["bare polars scan_csv (Float32)"]["cpu_seconds"]
    summary = {
        "files": len(files),
        "csv_gb": round(size / 2**30, 3),
        "generate_s": round(gen_s, 1),
        "results": results,
        "ratio_vs_bare": round(ours / bare, 2),
        "cpu_ratio_vs_bare": round(ours_cpu / bare_cpu, 2),
    }
    if "pandas notebook pipeline" in results:
        summary["speedup_vs_pandas"] = round(results["pandas notebook pipeline"]["seconds"] / ours, 2)
        summary["cpu_speedup_vs_pandas"] = round(results["pandas notebook pipeline"]["cpu_seconds"] / ours_cpu, 2)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{len(files)} files, {summary['csv_gb']} GB of CSV (generated in {summary['generate_s']} s)")
        for name, r in results.items():
            print(f"  {name:34s} {r['seconds']:7.2f} s wall {r['cpu_seconds']:7.2f} s cpu  "
                  f"peak {r['peak_rss_gb']:5.2f} GB  rows {r['rows']:,}")
        print(f"  privids / bare parse: {summary['ratio_vs_bare']}x wall, {summary['cpu_ratio_vs_bare']}x cpu (target <= 1.5x)")
        if "speedup_vs_pandas" in summary:
            print(f"  pandas / privids:     {summary['speedup_vs_pandas']}x wall, {summary['cpu_speedup_vs_pandas']}x cpu "
                  "(target >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
