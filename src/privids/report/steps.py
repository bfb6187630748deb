"""The study's steps, each turning PreparedData into the plain result dict its report section reads.

Every step imports the layer it needs inside the function: a layer that has not landed (or an
optional extra that is missing) makes that one step report "not run" instead of breaking the
study.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from privids._rng import RandomLike, as_generator, child_seed
from privids.config import RunConfig
from privids.data.dataset import PreparedData

__all__ = [
    "attacks_step",
    "centralised_step",
    "class_counts",
    "data_step",
    "federated_step",
    "importance_step",
    "membership_step",
    "privacy_step",
]

_CURVE_POINTS = 200


def class_counts(data: PreparedData) -> dict[str, int]:
    """Flows per canonical label over all three splits (after cleaning)."""
    c: Counter[str] = Counter()
    for split in (data.train, data.val, data.test):
        c.update(map(str, split.labels))
    return dict(c.most_common())


def data_step(data: PreparedData) -> dict[str, Any]:
    """Class counts plus the headline numbers of the data report (the full one is data_report.json)."""
    rep = data.report
    totals = rep.get("totals", {})
    dups = rep.get("duplicates", {}) if isinstance(rep.get("duplicates"), dict) else {}
    feats = rep.get("features", {}) if isinstance(rep.get("features"), dict) else {}
    summary: dict[str, Any] = {
        "files": totals.get("files"),
        "data lines read": totals.get("data_lines"),
        f"rows with Infinity/NaN ({rep.get('nonfinite_policy', 'drop')})": totals.get("nonfinite_rows"),
        "exact duplicates removed": dups.get("removed"),
        "rows after cleaning": (rep.get("rows") or {}).get("after_cleaning"),
        "features used": len(data.feature_names),
        "constant features dropped": ", ".join(feats.get("constant", [])) or "none",
        "never features (identifiers)": ", ".join(feats.get("identifiers_never_features", [])) or "none in this schema",
        "content fingerprint": data.fingerprint[:16],
    }
    files = {
        Path(str(f.get("path", "?"))).name: {"schema": f.get("schema"), "data lines": f.get("data_lines"),
                                             "rows": f.get("rows"),
                                             "non-finite rows": (f.get("nonfinite_rows") or {}).get("count")}
        for f in rep.get("files", []) if isinstance(f, dict)
    }
    per_split = (rep.get("split") or {}).get("labels", {})
    labels = sorted({lab for counts in per_split.values() for lab in counts})
    by_label = {lab: {k: per_split[k].get(lab, 0) for k in per_split} for lab in labels}
    report: dict[str, Any] = {**summary, "split sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)}}
    if files:
        report["files read"] = files
    if by_label:
        report["rows per label and split"] = by_label
    return {"class_counts": class_counts(data), "report": report}


def _curve(y: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, scores)
    # Thin the curve for the figure and metrics.json: keep its shape, drop thousands of steps.
    idx = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), _CURVE_POINTS)).astype(int))
    return {"fpr": fpr[idx].round(5).tolist(), "tpr": tpr[idx].round(5).tolist()}


def _family_recall(scores: np.ndarray, threshold: float, families: np.ndarray) -> dict[str, float]:
    flagged = scores >= threshold
    fam = np.asarray(families).astype(str)
    # For BENIGN the share *not* flagged (true-negative rate), so that higher is better everywhere.
    return {f: float((~flagged[fam == f]).mean() if f == "BENIGN" else flagged[fam == f].mean()) for f in sorted(set(fam))}


def centralised_step(data: PreparedData, cfg: RunConfig, *, out_dir: Path | None, rng: RandomLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the MLP, the binary tree model and a multi-class tree model; evaluate on test; save all.

    Returns
    -------
    (dict, dict)
        Section results per model, and the fitted detectors by name (for later steps).
    """
    from privids.evaluation import attack_scores
    from privids.evaluation.detectors import evaluate_detector, train_detector

    gen = as_generator(rng)
    results: dict[str, Any] = {}
    fitted: dict[str, Any] = {}
    # The multi-class tree gives the per-family confusion matrix; its attack score is 1 - P(BENIGN).
    for name, kind, multiclass in (("mlp", "mlp", False), ("gbt", "gbt", False), ("gbt-multiclass", "gbt", True)):
        tcfg = dataclasses.replace(cfg.train, model=kind, multiclass=multiclass)
        det = train_detector(data, tcfg, rng=child_seed(gen))
        evaluated = evaluate_detector(det, data.test)
        rep = evaluated["binary"]
        raw = det.predict_scores(data.test.X)
        scores = attack_scores(raw, class_names=det.class_names) if multiclass else raw
        metrics = {k: rep[k] for k in ("roc_auc", "pr_auc", "f1", "precision", "recall", "fpr", "accuracy", "threshold")}
        confusion = {"matrix": rep["confusion_matrix"], "labels": ["BENIGN", "attack"]}
        if multiclass and evaluated.get("multiclass"):
            mc = evaluated["multiclass"]
            metrics["macro_f1"] = mc["macro_f1"]
            confusion = {"matrix": mc["confusion_matrix"], "labels": list(mc["class_names"])}
        metrics["train_seconds"] = round(det.train_seconds, 2)
        results[name] = {
            "metrics": metrics,
            "roc": _curve(data.test.y, scores),
            "confusion": confusion,
            "per_family_recall": _family_recall(scores, det.threshold, data.test.families),
            "per_label": rep.get("per_label", {}),
        }
        fitted[name] = det
        if out_dir is not None:
            from privids.artifacts import save_detector

            path = save_detector(out_dir / "models" / name, det, data, train_cfg=tcfg, data_cfg=cfg.data,
                                 metrics={"test": rep})
            results[name]["artifact"] = str(path)
    return results, fitted


def privacy_step(data: PreparedData, cfg: RunConfig, *, rng: RandomLike) -> dict[str, Any]:
    """DP-SGD at every configured budget next to the non-private MLP (same test split)."""
    from privids.privacy.tradeoff import run_tradeoff

    res = run_tradeoff(data, epsilons=cfg.epsilons, train=cfg.train, privacy=cfg.privacy, rng=rng)
    base = res.baseline.test
    points = []
    for p in res.points[1:]:
        points.append({
            "epsilon": p.spent.epsilon if p.spent is not None else None,
            "target_epsilon": p.target_epsilon,
            "delta": getattr(p.spent, "delta", None),
            "noise_multiplier": getattr(p.spent, "noise_multiplier", None),
            "f1": p.test["f1"],
            "recall": p.test["recall"],
            "fpr": p.test["fpr"],
        })
    return {"points": points, "baseline": {"f1": base["f1"], "recall": base["recall"], "fpr": base["fpr"]},
            "metrics": ("f1", "recall"), "full": res.to_dict()}


def _history(result: Any) -> tuple[dict[str, list[float]], dict[str, Any]]:
    rounds = [r for r in result.rounds if r.server]
    hist: dict[str, list[float]] = {"round": [r.round for r in rounds]}
    for key in ("accuracy", "f1", "roc_auc", "recall", "fpr"):
        if rounds and all(key in r.server for r in rounds):
            hist[key] = [float(r.server[key]) for r in rounds]
    last = rounds[-1] if rounds else None
    final: dict[str, Any] = dict(last.server) if last else {}
    final["client_epsilon"] = last.client_epsilon if last else None
    final["rounds"] = len(rounds)
    return hist, final


def _save_global(model: Any, data: PreparedData, cfg: RunConfig, directory: Path, *, privacy: dict[str, Any] | None) -> str:
    """Save a federated global MLP as a detector artifact, thresholded on validation like the rest."""
    from privids.artifacts import save_detector
    from privids.evaluation import BINARY_CLASSES, FittedDetector, choose_threshold, raw_scores

    threshold = choose_threshold(data.val.y, raw_scores(model, data.val.X), method=cfg.train.threshold,
                                 target_fpr=cfg.train.target_fpr)
    det = FittedDetector(model=model, kind="mlp", task="binary", class_names=BINARY_CLASSES, threshold=threshold,
                         threshold_method=cfg.train.threshold, known_labels=tuple(sorted(set(map(str, data.train.labels)))),
                         privacy=privacy)
    return str(save_detector(directory, det, data, train_cfg=cfg.train, data_cfg=cfg.data))


def _dp_fedavg_note(fed: Any, n_params: int) -> str:
    """Why DP-FedAvg with few organisations hurts: the noise does not shrink with the model size."""
    clients = fed.clients
    std = fed.dp_noise_multiplier * fed.dp_clipping_norm / clients
    noise_norm = std * float(np.sqrt(n_params))
    return (f"DP-FedAvg clips each organisation's update to norm {fed.dp_clipping_norm:g} and adds Gaussian noise "
            f"with std sigma*C/n = {fed.dp_noise_multiplier:g}*{fed.dp_clipping_norm:g}/{clients} = {std:.3g} to every "
            f"one of the {n_params:,} weights of the averaged update: a noise vector of norm about {noise_norm:.1f} "
            f"against a signal of norm at most {fed.dp_clipping_norm:g}. Client-level privacy is affordable only with "
            f"many organisations per round (the noise shrinks as 1/n); with {clients} it costs most of the utility. "
            f"The epsilon is client-level: it protects an organisation's whole dataset, not one flow.")


def federated_step(data: PreparedData, cfg: RunConfig, *, rng: RandomLike, out_dir: Path | None = None,
                   tick: Callable[[str], None] | None = None) -> dict[str, Any]:
    """FedAvg and DP-FedAvg (server-side clipping + noise) over the configured federation.

    ``tick(message)`` is called after every round (progress display).
    """
    from privids.federated import run_federation

    gen = as_generator(rng)
    runs: dict[str, Any] = {}
    for name, fed in (("FedAvg", dataclasses.replace(cfg.federated, central_dp=False)),
                      ("DP-FedAvg", dataclasses.replace(cfg.federated, central_dp=True))):
        def on_round(rnd: int, total: int, metrics: dict[str, float], name: str = name) -> None:
            if tick is not None:
                tick(f"{name} round {rnd}/{total}")

        res = run_federation(data, fed, engine="inprocess", rng=child_seed(gen), hidden=cfg.train.hidden,
                             progress=on_round)
        hist, final = _history(res)
        runs[name] = {"history": hist, "final": final}
        if fed.central_dp:
            runs[name]["note"] = _dp_fedavg_note(fed, sum(p.numel() for p in res.model.parameters()))
        if out_dir is not None:
            # Client-level DP is recorded as such; it is not the record-level guarantee of DP-SGD.
            priv = None if not fed.central_dp else {"level": "client", "epsilon": final["client_epsilon"],
                                                     "mechanism": "DP-FedAvg (server-side clipping + Gaussian noise)"}
            runs[name]["artifact"] = _save_global(res.model, data, cfg, out_dir / "models" / name.lower(), privacy=priv)
    return runs


def attacks_step(data: PreparedData, cfg: RunConfig, *, rng: RandomLike, quick: bool,
                 tick: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Poisoning/backdoor attacks against each defence; cells are test F1 under attack.

    ``tick(message)`` is called before every cell (progress display).
    """
    from privids.attacks import run_poisoning_matrix

    settings = cfg.attack.malicious[:1] if quick else cfg.attack.malicious
    fed = dataclasses.replace(cfg.federated, rounds=cfg.attack.rounds, local_epochs=cfg.attack.local_epochs,
                              lr=cfg.attack.local_lr, batch_size=cfg.attack.local_batch_size)
    mat = run_poisoning_matrix(data, attacks=cfg.attack.attacks, defences=cfg.attack.defences, settings=settings,
                               rounds=fed.rounds, fed=fed, scale_factor=cfg.attack.scale_factor,
                               clipping_norm=cfg.federated.dp_clipping_norm,
                               noise_multiplier=cfg.federated.dp_noise_multiplier, rng=rng, progress=tick)
    full = mat.to_dict()
    att, cl = settings[0]
    f1: dict[str, dict[str, float | None]] = {}
    success: dict[str, dict[str, Any]] = {}
    for c in mat.cells:
        if (c.attackers, c.clients) != (att, cl):
            continue
        f1.setdefault(c.attack, {})[c.defence] = None if c.error or not np.isfinite(c.f1) else float(c.f1)
        if c.attack != "none":
            success.setdefault(c.attack, {})[c.defence] = None if c.error or not np.isfinite(c.success) else float(c.success)
    return {"matrix": f1, "metric": f"test F1 under attack ({att} of {cl} clients malicious)",
            "extra": success, "full": full,
            "extra_caption": ("Attack success (lower is better): backdoor = share of triggered attack flows classified "
                              "benign; other attacks = share of test flows the clean FedAvg run gets right and this run "
                              "gets wrong. A dash: the defence cannot run in this setting (see metrics.json).")}


def membership_step(data: PreparedData, cfg: RunConfig, *, mlp: Any, rng: RandomLike,
                    out_dir: Path | None = None) -> dict[str, Any]:
    """Loss-threshold membership inference on the MLP and one DP-SGD MLP (middle budget).

    The shadow-model attack of ``privids.attacks`` is not run here: it trains extra models per
    target and the loss attack already shows the gap the report is about.
    """
    from sklearn.metrics import roc_auc_score

    from privids.attacks import loss_attack_scores, run_membership
    from privids.evaluation.detectors import train_detector

    gen = as_generator(rng)
    eps = sorted(cfg.epsilons)[len(cfg.epsilons) // 2]
    dp = train_detector(data, cfg.train, privacy=dataclasses.replace(cfg.privacy, target_epsilon=eps), rng=child_seed(gen))
    dp_spent = dp.privacy or {}
    if out_dir is not None:
        from privids.artifacts import save_detector

        save_detector(out_dir / "models" / f"dp-sgd-eps{eps:g}", dp, data, train_cfg=cfg.train, data_cfg=cfg.data)
    models = {"MLP (non-private)": mlp,
              f"DP-SGD MLP (eps={eps:g})": (dp.model, dp_spent.get("epsilon", eps), dp_spent.get("delta"))}
    draw_seed = child_seed(gen)
    table = run_membership(models, data, n=cfg.attack.membership_samples, attacks=("loss",), rng=draw_seed)
    # The ROC figure re-scores the same members/non-members: run_membership draws them first
    # from its rng (members from train, then non-members from test), so the same seed repeats it.
    draw = as_generator(draw_seed)
    k = min(cfg.attack.membership_samples, len(data.train), len(data.test))
    mem = draw.choice(len(data.train), k, replace=False)
    non = draw.choice(len(data.test), k, replace=False)
    X = np.concatenate([data.train.X[mem], data.test.X[non]])
    y = np.concatenate([data.train.y[mem], data.test.y[non]])
    truth = np.r_[np.ones(k), np.zeros(k)]
    out: dict[str, Any] = {}
    for row in table.rows:
        target = models[row.model]
        model = target[0] if isinstance(target, tuple) else target
        entry = {"auc": row.auc, "advantage": row.advantage, "dp_bound_advantage": row.bound_advantage,
                 "within_dp_bound": row.within_bound, "tpr_at_0.1%_fpr": row.tpr_at_0_1pct,
                 "dp_bound_tpr_at_0.1%_fpr": row.bound_tpr_at_0_1pct, "epsilon": row.epsilon,
                 "members": row.n_members}
        scores = loss_attack_scores(model, X, y)
        entry.update(_curve(truth, scores))
        entry["curve_auc"] = float(roc_auc_score(truth, scores))
        out[row.model] = entry
    return out


def importance_step(data: PreparedData, *, fitted: dict[str, Any], rng: RandomLike) -> dict[str, dict[str, float]]:
    """Tree gain and MLP permutation importance (ROC-AUC drop on the test split)."""
    from privids.evaluation.importance import gain_importance, permutation_importance

    out: dict[str, dict[str, float]] = {}
    if "gbt" in fitted:
        booster = fitted["gbt"].model.booster_
        gi = gain_importance(booster.feature_importance(importance_type="gain"), feature_names=data.feature_names)
        out["tree gain"] = dict(zip(gi.feature_names, map(float, gi.values), strict=True))
    if "mlp" in fitted:
        det = fitted["mlp"]
        pi = permutation_importance(det.predict_scores, data.test.X,
                                    data.test.y, feature_names=data.feature_names, metric="roc_auc", n_repeats=3,
                                    max_rows=3000, rng=rng)
        out["MLP permutation (ROC-AUC drop)"] = dict(zip(pi.feature_names, map(float, pi.values), strict=True))
    return out
