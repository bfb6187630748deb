"""Realistic fake study results (plain numbers) for report tests and the browser check."""

from __future__ import annotations

import numpy as np


def _roc(auc_target: float, rng: np.random.Generator, n: int = 400) -> dict[str, list[float]]:
    # Binormal scores whose separation d' gives roughly the wanted AUC: AUC = Phi(d'/sqrt 2).
    from scipy.special import ndtri
    from sklearn.metrics import roc_curve

    d = np.sqrt(2) * ndtri(auc_target)
    y = np.r_[np.zeros(n), np.ones(n)]
    s = np.r_[rng.normal(0, 1, n), rng.normal(d, 1, n)]
    fpr, tpr, _ = roc_curve(y, s)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}


def fake_results(seed: int = 0) -> dict:
    """Numbers shaped like the study's outputs, with plausible CIC-IDS2017 magnitudes."""
    rng = np.random.default_rng(seed)
    fams = ["BENIGN", "Bot", "Brute Force", "DDoS", "DoS", "PortScan", "Web Attack"]
    conf = np.diag([4300, 45, 160, 300, 520, 295, 70]).astype(int)
    conf[0, 3] = 12
    conf[1, 0] = 15
    conf[6, 0] = 18
    return {
        "data": {
            "class_counts": {"BENIGN": 14500, "DoS Hulk": 1200, "DDoS": 1000, "PortScan": 1000, "FTP-Patator": 400,
                             "Bot": 300, "Web Attack - XSS": 160, "Heartbleed": 80},
            "report": {"rows_read": 20000, "rows_dropped_nonfinite": 11, "duplicates_removed": 0,
                       "splits": {"train": 13992, "val": 2998, "test": 2999}},
        },
        "centralised": {
            "mlp": {"metrics": {"roc_auc": 0.9912, "pr_auc": 0.978, "f1": 0.951, "precision": 0.962, "recall": 0.94,
                                "fpr": 0.0061, "threshold": 0.43},
                    "roc": _roc(0.991, rng),
                    "confusion": {"matrix": conf.tolist(), "labels": fams},
                    "per_family_recall": dict(zip(fams, [0.994, 0.75, 0.97, 0.99, 0.98, 0.995, 0.8], strict=True))},
            "gbt": {"metrics": {"roc_auc": 0.9991, "pr_auc": 0.997, "f1": 0.987, "precision": 0.99, "recall": 0.984,
                                "fpr": 0.0019, "threshold": 0.5},
                    "roc": _roc(0.999, rng)},
        },
        "privacy": {
            "baseline": {"roc_auc": 0.9912, "f1": 0.951},
            "points": [{"epsilon": e, "delta": 1e-5, "noise_multiplier": nm, "roc_auc": a, "f1": f}
                       for e, nm, a, f in [(0.5, 4.1, 0.912, 0.71), (1.0, 2.3, 0.947, 0.80), (2.0, 1.4, 0.968, 0.86),
                                           (4.0, 0.95, 0.979, 0.9), (8.0, 0.71, 0.985, 0.92)]],
        },
        "federated": {
            "FedAvg": {"history": {"round": [1, 2, 3, 4, 5], "accuracy": [0.91, 0.95, 0.965, 0.972, 0.975],
                                   "roc_auc": [0.95, 0.975, 0.982, 0.986, 0.988]},
                       "final": {"accuracy": 0.975, "roc_auc": 0.988, "epsilon": None}},
            "DP-FedAvg": {"history": {"round": [1, 2, 3, 4, 5], "accuracy": [0.85, 0.9, 0.92, 0.93, 0.935],
                                      "roc_auc": [0.9, 0.94, 0.952, 0.96, 0.963]},
                          "final": {"accuracy": 0.935, "roc_auc": 0.963, "epsilon": 9.1}},
        },
        "attacks": {
            "label_flip": {"fedavg": 0.81, "krum": 0.95, "median": 0.94, "trimmed": 0.93, "dpfedavg": 0.86},
            "sign_flip": {"fedavg": 0.42, "krum": 0.96, "median": 0.95, "trimmed": 0.9, "dpfedavg": 0.6},
            "scale": {"fedavg": 0.5, "krum": 0.96, "median": 0.95, "trimmed": 0.94, "dpfedavg": 0.91},
            "backdoor": {"fedavg": 0.9, "krum": 0.93, "median": 0.92, "trimmed": None, "dpfedavg": 0.9},
        },
        "membership": {
            "mlp (non-private)": {**_roc(0.56, rng), "advantage": 0.09, "auc": 0.56, "tpr_at_0.1%_fpr": 0.004},
            "DP-SGD eps=1": {**_roc(0.505, rng), "advantage": 0.012, "auc": 0.505, "tpr_at_0.1%_fpr": 0.001,
                             "epsilon": 1.0},
        },
        "importance": {
            "gbt gain": {"Destination Port": 0.21, "Init_Win_bytes_backward": 0.16, "Fwd Packet Length Max": 0.11,
                         "Flow IAT Max": 0.08, "Bwd Packet Length Std": 0.07, "Packet Length Mean": 0.05,
                         "Flow Duration": 0.04, "Total Length of Fwd Packets": 0.03, "PSH Flag Count": 0.02},
        },
    }
