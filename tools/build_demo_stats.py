"""Compute the per-class statistics behind the synthetic demo flows (``privids.data.demo``).

Reads the real CIC-IDS2017 samples in ``../shared/data`` and writes only numbers, never rows:
per class and feature 21 quantiles (0, 5, ..., 100 %) and a low-rank factor model of the
Gaussian-copula correlation (normal scores of the ranks), to
``src/privids/data/demo_stats.json``.

Sources, per class:

* the byte-exact MachineLearningCVE samples and the re-serialized multi-class file, whose
  columns *are* the 2017 schema, for every class with at least ``MIN_ORIGINAL_ROWS`` rows there;
* the improved re-extraction by Engelen et al. for the classes the originals lack or barely
  hold (DoS GoldenEye/slowloris/Slowhttptest, FTP-/SSH-Patator, Bot, Infiltration, Heartbleed),
  with its column names mapped onto the 2017 names. Its extra columns (RST flags, ICMP, TCP flow
  time) have no 2017 counterpart and are ignored.

Usage::

    .venv/bin/python tools/build_demo_stats.py [--shared ../shared/data] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
N_QUANTILES = 21
N_FACTORS = 8
MIN_ORIGINAL_ROWS = 20

ORIGINAL_FILES = (
    "cicids2017/machinelearningcve/friday_ddos_head_rows1-5000_paris-svg.csv",
    "cicids2017/machinelearningcve/friday_ddos_sample_pecord.csv",
    "cicids2017/machinelearningcve/friday_portscan_sample_pecord.csv",
    "cicids2017/machinelearningcve/thursday_webattacks_sample_neil-cipher.csv",
    "cicids2017/machinelearningcve_reserialized/multiclass_1000_mahdieslaminet.csv",
)
HEADER_FILE = ORIGINAL_FILES[1]

# Engelen file -> the 2017 label it stands for.
ENGELEN_FILES = {
    "DoS_Hulk_2500_first1000.csv": "DoS Hulk",
    "DoS_GoldenEye_2500_first1000.csv": "DoS GoldenEye",
    "DoS_Slowloris_2500_first1000.csv": "DoS slowloris",
    "DoS_Slowhttptest_1740_first1000.csv": "DoS Slowhttptest",
    "FTP-Patator_2500_first1000.csv": "FTP-Patator",
    "SSH-Patator_2500_first1000.csv": "SSH-Patator",
    "Botnet_736_first736.csv": "Bot",
    "Infiltration_36_first36.csv": "Infiltration",
    "Heartbleed_11_first11.csv": "Heartbleed",
}

# Improved-CICFlowMeter names that differ from the 2017 (stripped) names.
ENGELEN_TO_2017 = {
    "Dst Port": "Destination Port",
    "Total Fwd Packet": "Total Fwd Packets",
    "Total Bwd packets": "Total Backward Packets",
    "Total Length of Fwd Packet": "Total Length of Fwd Packets",
    "Total Length of Bwd Packet": "Total Length of Bwd Packets",
    "Packet Length Min": "Min Packet Length",
    "Packet Length Max": "Max Packet Length",
    "CWR Flag Count": "CWE Flag Count",
    "Fwd Segment Size Avg": "Avg Fwd Segment Size",
    "Bwd Segment Size Avg": "Avg Bwd Segment Size",
    "Fwd Bytes/Bulk Avg": "Fwd Avg Bytes/Bulk",
    "Fwd Packet/Bulk Avg": "Fwd Avg Packets/Bulk",
    "Fwd Bulk Rate Avg": "Fwd Avg Bulk Rate",
    "Bwd Bytes/Bulk Avg": "Bwd Avg Bytes/Bulk",
    "Bwd Packet/Bulk Avg": "Bwd Avg Packets/Bulk",
    "Bwd Bulk Rate Avg": "Bwd Avg Bulk Rate",
    "FWD Init Win Bytes": "Init_Win_bytes_forward",
    "Bwd Init Win Bytes": "Init_Win_bytes_backward",
    "Fwd Act Data Pkts": "act_data_pkt_fwd",
    "Fwd Seg Size Min": "min_seg_size_forward",
}


def _canonical_label(raw: str) -> str:
    # The samples spell the web-attack dash as cp1252 0x96, U+FFFD mojibake or an ASCII hyphen.
    text = raw.strip()
    if text.startswith("Web Attack"):
        tail = text.split(" ")[-1]
        return {"Force": "Web Attack - Brute Force", "XSS": "Web Attack - XSS", "Injection": "Web Attack - Sql Injection"}[tail]
    return text


def read_raw_header(shared: Path) -> list[str]:
    """The MachineLearningCVE header exactly as in the original files (spaces, duplicate)."""
    with open(shared / HEADER_FILE, encoding="utf-8-sig") as fh:
        return fh.readline().rstrip("\r\n").split(",")


def read_originals(shared: Path, header: list[str]) -> pd.DataFrame:
    """All original-schema rows, columns by position under the stripped unique feature names."""
    names = _unique_features(header) + ["Label"]
    keep = [i for i, h in enumerate(header) if i != _duplicate_index(header)]
    frames = []
    for rel in ORIGINAL_FILES:
        df = pd.read_csv(
            shared / rel, header=None, skiprows=1, usecols=keep, encoding="utf-8", encoding_errors="replace",
            low_memory=False,
        )
        df.columns = names
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["Label"] = out["Label"].astype(str).map(_canonical_label)
    return out


def read_engelen(shared: Path, features: list[str]) -> pd.DataFrame:
    """Improved-CICFlowMeter rows for the classes the originals lack, renamed to 2017 names."""
    frames = []
    for fname, label in ENGELEN_FILES.items():
        df = pd.read_csv(shared / "cicids2017_improved_engelen" / fname, low_memory=False)
        df = df.rename(columns={c: ENGELEN_TO_2017.get(c.strip(), c.strip()) for c in df.columns})
        missing = [f for f in features if f not in df.columns]
        if missing:
            raise SystemExit(f"{fname}: cannot map 2017 features {missing}")
        df = df[features].copy()
        df["Label"] = label
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _duplicate_index(header: list[str]) -> int:
    seen: set[str] = set()
    for i, h in enumerate(header):
        if h.strip() in seen:
            return i
        seen.add(h.strip())
    raise SystemExit("expected the duplicated Fwd Header Length column")


def _unique_features(header: list[str]) -> list[str]:
    dup = _duplicate_index(header)
    return [h.strip() for i, h in enumerate(header) if i != dup and h.strip() != "Label"]


def _round_sig(x: float, digits: int = 4) -> float:
    if x == 0 or not math.isfinite(x):
        return 0.0 if not math.isfinite(x) else x
    return float(f"{x:.{digits}g}")


def class_stats(X: np.ndarray) -> dict[str, object]:
    """Quantiles, integrality and copula factor loadings of one class (rows finite per column)."""
    n, f = X.shape
    probs = np.linspace(0, 1, N_QUANTILES)
    quantiles: list[object] = []
    integer: list[int] = []
    negative: dict[str, float] = {}
    scores = np.zeros((n, f))
    for j in range(f):
        col = X[:, j]
        finite = np.isfinite(col)
        vals = col[finite]
        q = np.quantile(vals, probs) if vals.size else np.zeros(N_QUANTILES)
        q_r = [_round_sig(float(v)) for v in q]
        # A constant column is one number, which keeps the JSON small.
        quantiles.append(q_r[0] if len(set(q_r)) == 1 else q_r)
        integer.append(int(bool(vals.size) and np.all(vals == np.round(vals))))
        if vals.size and (vals < 0).any():
            # Negative cells are sentinels or capture errors (Init_Win -1, Flow IAT Min < 0): the
            # generator draws them as a point mass at the minimum with this share.
            negative[str(j)] = round(float((vals < 0).mean()), 5)
        if vals.size and len(set(q_r)) > 1:
            # Normal scores of mid-ranks; non-finite cells sit at the column's median score.
            ranks = stats.rankdata(vals)
            z = np.zeros(n)
            z[finite] = stats.norm.ppf(ranks / (vals.size + 1))
            scores[:, j] = z
    with np.errstate(invalid="ignore", divide="ignore"):
        # Constant columns have zero variance; their NaN correlations become 0 below.
        corr = np.corrcoef(scores, rowvar=False) if n > 2 else np.eye(f)
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    evals, evecs = np.linalg.eigh(corr)
    order = np.argsort(evals)[::-1][:N_FACTORS]
    k_rank = max(1, min(N_FACTORS, n - 1))
    order = order[:k_rank]
    loadings = evecs[:, order] * np.sqrt(np.clip(evals[order], 0, None))
    constant = np.array([not isinstance(q, list) for q in quantiles])
    loadings[constant] = 0.0
    # Rows with norm > 1 (rounding) would make the residual variance negative.
    norms = np.sqrt((loadings**2).sum(axis=1))
    loadings[norms > 0.999] *= (0.999 / norms[norms > 0.999])[:, None]
    return {
        "rows": int(n),
        "quantiles": quantiles,
        "integer": integer,
        "negative_share": negative,
        "loadings": [[round(float(v), 3) for v in row] for row in loadings],
    }


def build(shared: Path) -> dict[str, object]:
    """Compute the whole statistics document from the shared samples."""
    header = read_raw_header(shared)
    features = _unique_features(header)
    orig = read_originals(shared, header)
    eng = read_engelen(shared, features)
    counts = orig["Label"].value_counts()
    classes: dict[str, object] = {}
    rate_cols = ["Flow Bytes/s", "Flow Packets/s"]
    for label in sorted(set(orig["Label"]) | set(eng["Label"])):
        if counts.get(label, 0) >= MIN_ORIGINAL_ROWS:
            part, source = orig[orig["Label"] == label], "CIC-IDS2017 MachineLearningCVE samples"
        else:
            part, source = eng[eng["Label"] == label], "CIC-IDS2017 improved (Engelen et al.), mapped to 2017 names"
        X = part[features].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        nonfinite = ~np.isfinite(part[rate_cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64))
        entry = class_stats(X)
        entry["source"] = source
        entry["nonfinite_rate_rate_columns"] = round(float(nonfinite.any(axis=1).mean()), 5)
        classes[label] = entry
        print(f"{label:28s} {len(part):6d} rows  from {source}")
    return {
        "about": (
            "Per-class statistics of real CIC-IDS2017 flow samples (quantiles and a Gaussian-copula factor "
            "model), built by tools/build_demo_stats.py. Numbers only: no flow rows are stored. "
            "Data cited: Sharafaldin, Habibi Lashkari, Ghorbani, ICISSP 2018; Engelen, Rimmer, Joosen, WTMC 2021."
        ),
        "raw_header": header,
        "features": features,
        "probabilities": [round(float(p), 4) for p in np.linspace(0, 1, N_QUANTILES)],
        "n_factors": N_FACTORS,
        "classes": classes,
    }


def main() -> None:
    """Parse arguments, build the statistics, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "src" / "privids" / "data" / "demo_stats.json")
    args = parser.parse_args()
    doc = build(args.shared)
    args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
