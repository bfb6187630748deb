"""Measures the anomaly score and the temporal features on the real samples in ../shared/data.

Usage: ``nice -n 10 .venv/bin/python benchmarks/security_features.py [--seeds 0,1,2] [--shared ../shared]``

Prints, as Markdown tables (the numbers quoted in docs/explain.md):

1. leave-one-attack-family-out detection with and without the benign-distance anomaly score
   (improved CIC-IDS2017 sample; LightGBM and MLP; mean over seeds);
2. the anomaly score as an extra feature on ordinary (all families seen) test splits;
3. per-source temporal window features: binary detection on the improved sample, family
   discrimination on the TrafficLabelling sample (attacks only), and which schemas cannot have them;
4. leave-one-family-out detection with and without the temporal features;
5. where the temporal features rank in the permutation importance of the LightGBM model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from privids.config import DataConfig, TrainConfig
from privids.data.dataset import PreparedData
from privids.evaluation.detectors import train_detector
from privids.evaluation.explain import explain_detector
from privids.evaluation.feature_impact import feature_impact
from privids.evaluation.metrics import multiclass_report
from privids.evaluation.zero_day import leave_one_family_out
from privids.exceptions import DataError
from privids.features.anomaly import with_anomaly
from privids.features.pipeline import prepare_data
from privids.features.temporal import TemporalFeatures, with_temporal
from privids.models.gbt import train_gbt

_MODELS = {"gbt": TrainConfig(model="gbt", gbt_estimators=100), "mlp": TrainConfig(model="mlp", epochs=10)}
_WINDOWS = TemporalFeatures(windows=(60.0, 600.0))
_CACHE = "/tmp/privids-bench-cache"


def _lofo(root: Path, seeds: list[int]) -> None:
    print("\n## Leave-one-family-out (target FPR 1% on benign validation flows)\n")
    print(f"Default TrainConfig per model (as `privids zero-day`); split seed = model seed = each of {seeds}.")
    datasets = [prepare_data(root / "cicids2017_improved_engelen", DataConfig(seed=s, cache_dir=_CACHE)) for s in seeds]
    for model in ("gbt", "mlp"):
        cfg = TrainConfig(model=model)
        tables = [leave_one_family_out(d, model=model, cfg=cfg, target_fpr=0.01, rng=s)
                  for d, s in zip(datasets, seeds, strict=True)]
        print(f"\n### {model}, mean ± std over {len(seeds)} seeds\n")
        print("| held-out family | flows | base | + anomaly feature | base OR anomaly | anomaly alone | AUC anomaly alone |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for i, row in enumerate(tables[0].rows):
            def m(key: str, i: int = i) -> str:
                v = [t.rows[i][key] for t in tables]
                return f"{np.mean(v):.3f} ± {np.std(v):.3f}"

            print(f"| {row['family']} | {row['heldout_rows']} | {m('recall_base')} | {m('recall_anomaly')} | "
                  f"{m('recall_either')} | {m('recall_score_only')} | {m('auc_score_only')} |")
        keys = ("recall_base", "recall_anomaly", "recall_either", "recall_score_only")
        per_seed = np.array([[t.mean(k) for k in keys] for t in tables])
        cells = " | ".join(f"{per_seed[:, j].mean():.3f} ± {per_seed[:, j].std():.3f}" for j in range(len(keys)))
        print(f"| **mean over families** | | {cells} | |")
        print(f"\nper seed (base, +anomaly): {[(round(float(a), 3), round(float(b), 3)) for a, b, _, _ in per_seed]}")
        fprs = [np.mean([t.mean(k) for t in tables]) for k in ("fpr_base", "fpr_anomaly", "fpr_either")]
        print(f"benign test false-alarm rate, mean: base {fprs[0]:.3f}, +anomaly {fprs[1]:.3f}, either {fprs[2]:.3f}")


def _impact_rows(title: str, variants: dict[str, PreparedData], seeds: list[int]) -> None:
    print(f"\n### {title}\n")
    print("| model | variant | features | ROC-AUC | F1 | recall | FPR |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model, cfg in _MODELS.items():
        runs = [feature_impact(variants, cfg=cfg, rng=s) for s in seeds]
        for j, row in enumerate(runs[0]):
            vals = [np.mean([r[j][k] for r in runs]) for k in ("roc_auc", "f1", "recall", "fpr")]
            print(f"| {model} | {row['variant']} | {row['n_features']} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")


def _multiclass_f1(data: PreparedData, seed: int) -> float:
    # LightGBM over the families directly: this sample has no BENIGN class for a detector threshold.
    model = train_gbt(data, TrainConfig(model="gbt", gbt_estimators=100, multiclass=True), rng=seed)
    proba = np.asarray(model.predict_scores(data.test.X))
    return float(multiclass_report(data.test.families, proba, class_names=data.family_names)["macro_f1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--only", default="lofo,anomaly,temporal,lofo-temporal,rank", help="Comma-separated sections.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    root = Path(args.shared) / "data"
    dc = DataConfig(cache_dir=_CACHE)

    only = set(args.only.split(","))
    improved = prepare_data(root / "cicids2017_improved_engelen", dc)
    if "lofo" in only:
        _lofo(root, seeds)
    if "anomaly" in only:
        _anomaly(root, dc, improved, seeds)
    if "temporal" in only:
        _temporal(root, dc, improved, seeds)
    if "lofo-temporal" in only:
        _lofo_temporal(improved, seeds)
    if "rank" in only:
        _rank(improved, seeds[0])


def _lofo_temporal(data: PreparedData, seeds: list[int]) -> None:
    print("\n## Leave-one-family-out with and without the temporal features (recall at 1% benign FPR)\n")
    with_t = with_temporal(data, _WINDOWS)
    print("| model | held-out family | base | +temporal |")
    print("|---|---|---:|---:|")
    for model, cfg in _MODELS.items():
        runs = {name: [leave_one_family_out(d, model=model, cfg=cfg, target_fpr=0.01, rng=s) for s in seeds]
                for name, d in (("base", data), ("+temporal", with_t))}
        for i, row in enumerate(runs["base"][0].rows):
            vals = [np.mean([t.rows[i]["recall_base"] for t in runs[n]]) for n in ("base", "+temporal")]
            print(f"| {model} | {row['family']} | {vals[0]:.3f} | {vals[1]:.3f} |")
        means = [np.mean([t.mean("recall_base") for t in runs[n]]) for n in ("base", "+temporal")]
        print(f"| {model} | **mean** | {means[0]:.3f} | {means[1]:.3f} |")


def _anomaly(root: Path, dc: DataConfig, improved: PreparedData, seeds: list[int]) -> None:
    print("\n## Anomaly score as an extra feature (every family seen in training)")
    for name, rel in (("improved CIC-IDS2017 sample", "cicids2017_improved_engelen"),
                      ("CIC-IDS2017 multiclass_1000 (reserialized)", "cicids2017/machinelearningcve_reserialized"),
                      ("CSE-CIC-IDS2018 multiclass_1000", "cse_cic_ids2018")):
        data = improved if rel == "cicids2017_improved_engelen" else prepare_data(root / rel, dc)
        _impact_rows(name, {"base": data, "+anomaly": with_anomaly(data, rng=0)[0]}, seeds)


def _temporal(root: Path, dc: DataConfig, improved: PreparedData, seeds: list[int]) -> None:
    print("\n## Temporal features (windows 60 s and 600 s)")
    _impact_rows("improved CIC-IDS2017 sample (binary)", {"base": improved, "+temporal": with_temporal(improved, _WINDOWS)}, seeds)
    tl = prepare_data(root / "cicids2017" / "trafficlabelling_reserialized", dc)
    tl_t = with_temporal(tl, _WINDOWS)
    base_f1 = np.mean([_multiclass_f1(tl, s) for s in seeds])
    temp_f1 = np.mean([_multiclass_f1(tl_t, s) for s in seeds])
    print(f"\nTrafficLabelling sample (attacks only: {list(tl.family_names)}; sources: "
          f"{sorted(set(tl.train.meta['src_ip']))}): family macro-F1 {base_f1:.4f} base, {temp_f1:.4f} +temporal")
    for rel in ("cse_cic_ids2018", "cicids2017/machinelearningcve/friday_portscan_sample_pecord.csv"):
        try:
            with_temporal(prepare_data(root / rel, dc), _WINDOWS)
        except DataError as e:
            print(f"\n{rel}: not available ({str(e).split(';')[1].strip()})")


def _rank(improved: PreparedData, seed: int) -> None:
    print("\n## Permutation importance rank of the temporal features (LightGBM, improved sample)\n")
    data_t = with_temporal(improved, _WINDOWS)
    det = train_detector(data_t, _MODELS["gbt"], rng=seed)
    rep = explain_detector(det.predict_scores, data_t, booster=det.model.booster_, threshold=det.threshold, top=10,
                           n_repeats=3, rng=seed)
    for imp in rep.importances:
        ranking = imp.ranking()
        ranks = {n: ranking.index(n) + 1 for n in _WINDOWS.names()}
        print(f"- {imp.method}: top-10 {ranking[:10]}; temporal ranks {ranks}")


if __name__ == "__main__":
    main()
