"""Importance methods against hand-built oracles, plus explain_detector / LOFO end to end on tiny data."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from conftest import make_synthetic, shared_path
from sklearn.metrics import roc_auc_score

from privids.config import TrainConfig
from privids.evaluation.explain import constant_features, explain_detector, fit_reference_tree
from privids.evaluation.importance import (
    DROPPED_CONSTANT,
    agreement,
    gain_importance,
    importance_by_name,
    permutation_importance,
    top_k_table,
)
from privids.evaluation.shap_importance import sampled_shap_importance, tree_shap_importance
from privids.evaluation.zero_day import leave_one_family_out, register_fitter
from privids.exceptions import ConfigError, DataError


def _linear_data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 3] = 1.0  # constant column
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def test_permutation_matches_brute_force_loop() -> None:
    # Arrange: a scorer using features 0 and 1 only.
    X, y = _linear_data()
    w = np.array([2.0, 0.5, 0.0, 0.0])

    def scorer(a):
        return a @ w

    # Act
    imp = permutation_importance(scorer, X, y, feature_names=("a", "b", "c", "d"), n_repeats=3, max_rows=None, rng=11)
    # Assert: replay the same shuffles by hand (same generator, same call order) with sklearn's AUC.
    gen = np.random.default_rng(11)
    base = roc_auc_score(y, scorer(X))
    for j in range(3):
        drops = []
        for _ in range(3):
            Xp = X.copy()
            Xp[:, j] = X[gen.permutation(len(X)), j]
            drops.append(base - roc_auc_score(y, scorer(Xp)))
        assert imp.values[j] == pytest.approx(np.mean(drops), abs=1e-12)
    assert imp.values[2] == 0.0  # unused by the scorer
    assert imp.values[3] == 0.0 and imp.std[3] == 0.0  # constant: never NaN
    assert imp.ranking()[:2] == ["a", "b"]


def test_permutation_f1_uses_threshold_and_is_seeded() -> None:
    X, y = _linear_data()
    a = permutation_importance(lambda m: m[:, 0], X, y, feature_names=tuple("abcd"), metric="f1", threshold=0.0, rng=3)
    b = permutation_importance(lambda m: m[:, 0], X, y, feature_names=tuple("abcd"), metric="f1", threshold=0.0, rng=3)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.details["baseline"] > 0.8 and a.values[0] > 0.3
    assert np.isfinite(a.values).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"metric": "accuracy"}, ConfigError, "metric must be one of"),
        ({"n_repeats": 0}, ConfigError, "n_repeats"),
        ({"feature_names": ("a",)}, DataError, "name every column"),
    ],
    ids=["metric", "repeats", "names"],
)
def test_permutation_validation(kwargs, error, match) -> None:
    X, y = _linear_data()
    args = {"feature_names": tuple("abcd")} | kwargs
    with pytest.raises(error, match=match):
        permutation_importance(lambda m: m[:, 0], X, y, **args)


def test_permutation_single_class_auc_is_refused() -> None:
    X, _ = _linear_data()
    with pytest.raises(DataError, match="both BENIGN and attack"):
        permutation_importance(lambda m: m[:, 0], X, np.zeros(len(X), dtype=np.int64), feature_names=tuple("abcd"))


def test_gain_and_dropped_marker() -> None:
    g = gain_importance([2.0, 6.0, 0.0], feature_names=("a", "b", "c"), dropped=("Bwd PSH Flags",))
    assert g.values.tolist() == [0.25, 0.75, 0.0]
    by_name = importance_by_name(g)
    assert by_name["Bwd PSH Flags"] == DROPPED_CONSTANT
    assert json.loads(json.dumps(g.to_dict()))["features"][-1]["importance"] == DROPPED_CONSTANT
    zero = gain_importance([0.0, 0.0], feature_names=("a", "b"))
    assert zero.values.tolist() == [0.0, 0.0]
    with pytest.raises(DataError, match="one entry per feature"):
        gain_importance([1.0], feature_names=("a", "b"))


def test_top_k_and_agreement_hand_computed() -> None:
    a = gain_importance([4.0, 3.0, 2.0, 1.0], feature_names=tuple("wxyz"))
    b = dataclasses.replace(gain_importance([3.0, 4.0, 1.0, 2.0], feature_names=tuple("wxyz")), method="other")
    rows = top_k_table([a, b], k=2)
    assert [(r["gain"], r["other"]) for r in rows] == [("w", "x"), ("x", "w")]
    assert rows[0]["gain_value"] == pytest.approx(0.4)
    (ag,) = agreement([a, b], k=2)
    assert ag["overlap"] == 1.0 and ag["shared"] == ["w", "x"]
    # Spearman of ranks (1,2,3,4) vs (2,1,4,3): 1 - 6*4/(4*15) = 0.6
    assert ag["spearman"] == pytest.approx(0.6)
    flat = gain_importance([0.0, 0.0, 0.0, 0.0], feature_names=tuple("wxyz"))
    assert agreement([a, flat], k=2)[0]["spearman"] is None
    with pytest.raises(ConfigError, match="positive"):
        top_k_table([a], k=0)


def test_sampled_shap_is_exact_for_a_linear_scorer() -> None:
    # For f(x) = w.x with an independent masker, phi_j = w_j (x_j - mean(background_j)) exactly.
    X, _ = _linear_data(n=120)
    w = np.array([1.5, -0.5, 0.0, 0.0])
    imp = sampled_shap_importance(
        lambda a: a @ w, X, background=X, feature_names=tuple("abcd"), n_background=30, n_explain=40, rng=5
    )
    gen = np.random.default_rng(5)
    bg = X[np.sort(gen.choice(len(X), 30, replace=False))].astype(np.float64)
    xs = X[np.sort(gen.choice(len(X), 40, replace=False))].astype(np.float64)
    want = np.abs((xs - bg.mean(0)) * w).mean(0)
    np.testing.assert_allclose(imp.values, want, rtol=1e-5, atol=1e-7)


def test_sampled_shap_leaves_global_numpy_rng_alone() -> None:
    X, _ = _linear_data(n=60)
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    sampled_shap_importance(lambda a: a[:, 0], X, background=X, feature_names=tuple("abcd"), n_explain=5, rng=0)
    assert np.random.random() == expected


def test_tree_shap_additivity_and_unused_features() -> None:
    X, y = _linear_data(n=400)
    booster = fit_reference_tree(X, y, n_estimators=20, rng=0)
    imp = tree_shap_importance(booster, X, feature_names=tuple("abcd"), max_rows=100, rng=0)
    assert imp.details["additivity_error"] < 1e-6
    assert imp.ranking()[0] == "a" and imp.values[3] == 0.0


def test_explain_detector_on_synthetic_mlp_like_scorer(tmp_path) -> None:
    # Arrange: a logistic model (a real fitted scorer) on the seeded synthetic flows.
    from sklearn.linear_model import LogisticRegression

    d = make_synthetic()
    lr = LogisticRegression().fit(d.train.X, d.train.y)
    # Act
    rep = explain_detector(lambda a: lr.predict_proba(a)[:, 1], d, top=3, n_repeats=2, shap_rows=30, rng=0,
                           dropped=("Bwd URG Flags",))
    paths = rep.save(tmp_path)
    # Assert: the signal lives in f0 (and f1); every method puts f0 first.
    assert [r["method"] for r in rep.to_dict()["methods"]] == ["permutation", "gain", "shap"]
    assert all(imp.ranking()[0] == "f0" for imp in rep.importances)
    assert len(rep.top) == 3 and len(rep.agreement) == 3
    assert paths["chart"].stat().st_size > 1000
    saved = json.loads(paths["json"].read_text())
    assert saved["dropped"] == ["Bwd URG Flags"]
    for m in saved["methods"]:
        assert all(isinstance(f["importance"], str) or math.isfinite(f["importance"]) for f in m["features"])


def test_constant_features_from_report() -> None:
    assert constant_features({"constant_columns": ["Bwd PSH Flags"]}) == ("Bwd PSH Flags",)
    assert constant_features({}) == ()


def test_leave_one_family_out_removes_the_family_from_training() -> None:
    # Arrange: a recording fitter (a real logistic model) to check what each detector was trained on.
    from sklearn.linear_model import LogisticRegression

    seen: list[set[str]] = []

    def fit(data, cfg, gen):
        seen.append(set(data.train.families) | set(data.val.families))
        m = LogisticRegression().fit(data.train.X, data.train.y)
        return lambda a: m.predict_proba(a)[:, 1]

    register_fitter("logreg-test", fit, force=True)
    d = make_synthetic(n=900, seed=4)
    # Act
    table = leave_one_family_out(d, model="logreg-test", target_fpr=0.05, rng=0)
    # Assert
    fams = [r["family"] for r in table.rows]
    assert fams == ["DDoS", "PortScan", "Web Attack"]
    for i, fam in enumerate(fams):
        assert fam not in seen[2 * i] and fam not in seen[2 * i + 1]
    for r in table.rows:
        assert 0.0 <= r["recall_base"] <= 1.0 and 0.0 <= r["recall_anomaly"] <= 1.0
        assert r["fpr_base"] <= 0.2
    with pytest.raises(ConfigError, match="already registered"):
        register_fitter("logreg-test", fit)
    with pytest.raises(ConfigError, match="model must be one of"):
        leave_one_family_out(d, model="svm")
    with pytest.raises(DataError, match="unknown attack families"):
        leave_one_family_out(d, model="logreg-test", families=["Botnet"])


def test_leave_one_family_out_with_gbt() -> None:
    d = make_synthetic(n=900, seed=2)
    table = leave_one_family_out(d, model="gbt", cfg=TrainConfig(model="gbt", gbt_estimators=30), families=["DDoS"], rng=0)
    (row,) = table.rows
    assert row["heldout_rows"] == int(sum((s.families == "DDoS").sum() for s in (d.train, d.val, d.test)))
    assert row["auc_base"] > 0.8  # DDoS shares the f0 shift with the families that stay in training


def _saved_detector(tmp_path, data_path, kind: str, threshold: str = "f1"):
    from privids.artifacts import load_artifact, save_detector
    from privids.config import DataConfig
    from privids.evaluation.detectors import train_detector
    from privids.features.pipeline import prepare_data

    dc = DataConfig(cache_dir=str(tmp_path / "cache"))
    data = prepare_data(data_path, dc)
    cfg = TrainConfig(model=kind, gbt_estimators=20, epochs=2, threshold=threshold)
    det = train_detector(data, cfg, rng=0)
    save_detector(tmp_path / kind, det, data, train_cfg=cfg, data_cfg=dc)
    return load_artifact(tmp_path / kind), data


@pytest.mark.shared
def test_case09_constant_columns_are_reported_dropped_never_nan(tmp_path) -> None:
    from privids.evaluation.explain import explain_artifact

    path = shared_path("cases", "09-constant-zero-columns", "constant_cols.csv")
    art, _ = _saved_detector(tmp_path, path, "gbt", threshold="fpr")  # 10 flows: no attack in val
    rep = explain_artifact(art, path, top=3, n_repeats=2, rng=0)
    expected = {"Bwd PSH Flags", "Bwd URG Flags", "Fwd Avg Bytes/Bulk", "Fwd Avg Packets/Bulk", "Fwd Avg Bulk Rate",
                "Bwd Avg Bytes/Bulk", "Bwd Avg Packets/Bulk", "Bwd Avg Bulk Rate", "min_seg_size_forward"}
    assert set(rep.dropped) == expected
    text = json.dumps(rep.to_dict())
    assert "NaN" not in text and "Infinity" not in text
    for m in rep.to_dict()["methods"]:
        marks = {f["feature"] for f in m["features"] if f["importance"] == DROPPED_CONSTANT}
        assert marks == expected
        ranked = {f["feature"] for f in m["features"] if not isinstance(f["importance"], str)}
        assert not ranked & expected and all(n == n.strip() for n in ranked)


@pytest.mark.shared
def test_explain_artifact_test_split_and_unseen_file(tmp_path) -> None:
    from privids.evaluation.explain import explain_artifact

    root = shared_path("data", "cicids2017", "machinelearningcve")
    art, data = _saved_detector(tmp_path, root / "friday_portscan_sample_pecord.csv", "mlp")
    own = explain_artifact(art, root / "friday_portscan_sample_pecord.csv", top=3, n_repeats=1, shap_rows=10, rng=0)
    assert "own test split" in own.notes[0]
    assert own.importances[0].details["rows"] == len(data.test)
    other = explain_artifact(art, root / "friday_ddos_sample_pecord.csv", top=3, n_repeats=1, shap_rows=10, rng=0)
    assert "every labelled flow" in other.notes[0]
    # A new fingerprint does not prove the flows are new: the note must not claim "unseen".
    assert "overlap with the training flows is not checked" in other.notes[0]
    assert "not the model's training data" not in other.notes[0]
    assert other.importances[0].details["rows"] == 1300  # every row of the unseen file, none dropped
    assert other.importances[0].feature_names == art.feature_names


@pytest.mark.shared
def test_cli_explain_json_and_files(tmp_path) -> None:
    import typer
    from typer.testing import CliRunner

    from privids.cli import explain as explain_cli

    path = shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
    _saved_detector(tmp_path, path, "gbt")
    app = typer.Typer()
    explain_cli.register(app)
    app.command("noop")(lambda: None)  # keeps typer in multi-command mode, as in the real app
    args = ["explain", "--model", str(tmp_path / "gbt"), "--data", str(path), "--top", "4", "--repeats", "1",
            "--out", str(tmp_path / "out"), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert len(payload["top"]) == 4 and {m["method"] for m in payload["methods"]} == {"permutation", "gain", "shap"}
    assert (tmp_path / "out" / "importance.png").stat().st_size > 1000
    bad = CliRunner().invoke(app, ["explain", "--model", str(tmp_path / "missing"), "--data", str(path)])
    assert bad.exit_code == 5 and "error" in bad.output


def test_feature_impact_same_rows_same_seed() -> None:
    from privids.evaluation.feature_impact import feature_impact
    from privids.features.anomaly import with_anomaly

    d = make_synthetic(n=900, seed=5)
    aug, _ = with_anomaly(d, rng=0)
    cfg = TrainConfig(model="gbt", gbt_estimators=20)
    rows = feature_impact({"base": d, "base again": d, "+anomaly": aug}, cfg=cfg, rng=1)
    assert [r["variant"] for r in rows] == ["base", "base again", "+anomaly"]
    assert rows[0]["roc_auc"] == rows[1]["roc_auc"]  # same seed, same rows -> same model
    assert rows[2]["n_features"] == rows[0]["n_features"] + 1
    assert set(rows[0]["recall_by_family"]) == {"DDoS", "PortScan", "Web Attack"}
    small = dataclasses.replace(d, test=d.train)
    with pytest.raises(DataError, match="same rows"):
        feature_impact({"a": d, "b": small}, cfg=cfg)


def test_permutation_importance_explains_a_dp_sgd_model() -> None:
    # A DP-SGD MLP is just another scorer: no gradients or internals are needed.
    from privids.config import PrivacyConfig
    from privids.evaluation.detectors import train_detector

    d = make_synthetic()
    det = train_detector(d, TrainConfig(model="mlp"), privacy=PrivacyConfig(noise_multiplier=1.0, batch_size=64, epochs=2), rng=0)
    assert det.privacy is not None and det.privacy["epsilon"] > 0
    imp = permutation_importance(det.predict_scores, d.test.X, d.test.y, feature_names=d.feature_names, n_repeats=3, rng=0)
    assert imp.ranking()[0] == "f0" and np.isfinite(imp.values).all()


def test_raw_header_names_are_stripped() -> None:
    g = gain_importance([1.0, 2.0], feature_names=(" Flow Duration", " Destination  Port "), dropped=(" Bwd PSH Flags",))
    assert g.feature_names == ("Flow Duration", "Destination Port") and g.dropped == ("Bwd PSH Flags",)


def test_either_detector_splits_the_false_alarm_budget_by_hand() -> None:
    from privids.evaluation.zero_day import _either

    val = np.arange(100, dtype=np.float64)  # benign validation scores 0..99 for both detectors
    # Half of a 4% budget each: flag above the 98th-percentile value, i.e. above 98.
    base = [val, np.array([99.5, 10.0, 10.0, 98.0]), np.array([99.0, 0.0])]
    score = [val, np.array([0.0, 99.1, 10.0, 98.5]), np.array([0.0, 0.0])]
    got = _either(base, score, 0.04)
    assert got["recall"] == 0.75  # rows 0 (base), 1 and 3 (score); row 2 by neither
    assert got["fpr"] == 0.5  # the benign test flow at 99.0 is above 98


@pytest.mark.shared
def test_cli_zero_day_refuses_data_without_benign_flows() -> None:
    import typer
    from typer.testing import CliRunner

    from privids.cli import explain as explain_cli

    app = typer.Typer()
    explain_cli.register(app)
    path = shared_path("data", "cicids2017", "trafficlabelling_reserialized")
    res = CliRunner().invoke(app, ["zero-day", "--data", str(path)])
    assert res.exit_code == 2 and "benign validation flows" in res.output


def test_plot_importance_refuses_nothing_to_plot(tmp_path) -> None:
    from privids.evaluation.importance_plot import plot_importance

    with pytest.raises(ConfigError, match="at least one result"):
        plot_importance([], tmp_path / "x.png")
