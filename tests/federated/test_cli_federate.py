"""Tests for ``privids federate`` on a real CIC-IDS2017 sample (tiny federation, in-process)."""

from __future__ import annotations

import json

import pytest
from conftest import shared_path
from typer.testing import CliRunner

from privids.cli._app import build_app

pytestmark = [pytest.mark.fl, pytest.mark.shared]

SAMPLE = ("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
FAST = ["--engine", "inprocess", "--clients", "2", "--rounds", "2", "--local-epochs", "1"]


def test_json_output_has_one_row_per_round_and_one_statement_per_organisation():
    path = shared_path(*SAMPLE)
    result = CliRunner().invoke(build_app(), ["federate", "--data", str(path), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [r["round"] for r in out["rounds"]] == [1, 2]
    assert all(r["accepted"] == [0, 1] for r in out["rounds"])
    assert [p["partition_id"] for p in out["privacy"]] == [0, 1]
    assert all(p["epsilon"] is None and p["level"] == "none" for p in out["privacy"])  # inf -> null in JSON
    assert sum(p["total"] for p in out["partitions"]) > 0


def test_dp_flag_reports_client_level_epsilon_in_the_tables():
    path = shared_path(*SAMPLE)
    result = CliRunner().invoke(build_app(), ["federate", "--data", str(path), *FAST, "--dp"])
    assert result.exit_code == 0, result.output
    assert "privids federate: 2 organisations" in result.output
    assert "client" in result.output and "DP-FedAvg" in result.output


def test_too_many_required_clients_exits_with_the_federation_error_code():
    path = shared_path(*SAMPLE)
    result = CliRunner().invoke(build_app(), ["federate", "--data", str(path), *FAST, "--min-clients", "3"])
    assert result.exit_code == 6
    assert "fewer than the minimum 3" in " ".join(result.output.split())


def test_export_writes_one_file_per_organisation_plus_the_server_split(tmp_path):
    path = shared_path(*SAMPLE)
    result = CliRunner().invoke(build_app(), ["federate", "--data", str(path), "--clients", "3", "--export", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)["written"]
    assert [p.rsplit("/", 1)[-1] for p in written] == ["org_0.npz", "org_1.npz", "org_2.npz", "server_val.npz"]


def test_out_saves_an_artifact_that_scores_like_the_federated_model(tmp_path):
    import numpy as np

    from privids.artifacts import load_artifact
    from privids.features.pipeline import prepare_data

    path = shared_path(*SAMPLE)
    result = CliRunner().invoke(build_app(), ["federate", "--data", str(path), *FAST, "--dp", "--out", str(tmp_path / "fed"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    artifact = load_artifact(out["artifact"])
    assert artifact.privacy["level"] == "client"
    assert artifact.privacy["epsilon"] == out["privacy"][0]["epsilon"]
    # Oracle: the same federation run from Python (same seed, split, partitions and DP noise).
    from privids.config import FederatedConfig
    from privids.federated import run_federation
    from privids.models.predict import predict_scores

    data = prepare_data(path, rng=42)
    cfg = FederatedConfig(clients=2, rounds=2, local_epochs=1, lr=3e-3, batch_size=128, central_dp=True, seed=42)
    again = run_federation(data, cfg, engine="inprocess", rng=42)
    np.testing.assert_allclose(artifact.attack_scores(data.test.X), predict_scores(again.model, data.test.X), rtol=1e-6)
    assert artifact.transform.to_dict() == data.transform.to_dict()


def test_an_organisation_prepares_its_own_csv_with_the_coordinators_transform(tmp_path):
    import numpy as np

    from privids.features.pipeline import prepare_data
    from privids.federated import load_partition_file

    # Arrange: the coordinator exports the transform; organisation 1 holds a different file
    coordinator = shared_path(*SAMPLE)
    own = shared_path("data", "cicids2017", "machinelearningcve", "friday_ddos_sample_pecord.csv")
    runner = CliRunner()
    assert runner.invoke(build_app(), ["federate", "--data", str(coordinator), "--clients", "2", "--export", str(tmp_path)]).exit_code == 0
    # Act
    result = runner.invoke(build_app(), ["federate-org", "--data", str(own), "--transform", str(tmp_path / "transform.json"),
                                         "--org-id", "1", "--out", str(tmp_path / "mine.npz"), "--json"])  # fmt: skip
    # Assert: the rows are the organisation's flows under the coordinator's transform, not a refit
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    part = load_partition_file(summary["out"], partition_id=1)
    assert summary["train_flows"] + summary["eval_flows"] == 1300  # 1000 DDoS + 300 BENIGN, all kept
    assert summary["attacks"] == int(part.y.sum()) and part.X.shape[1] == len(prepare_data(coordinator, rng=42).feature_names)
    from privids.data import load_flows
    from privids.federated import read_transform

    t = read_transform(tmp_path / "transform.json")
    expected = t.transform(load_flows(own, mode="train").matrix(t.feature_names))
    rows = {tuple(r) for r in np.round(expected, 5)}
    assert all(tuple(r) in rows for r in np.round(part.X, 5))


def test_summaries_merge_into_the_transform_each_organisation_then_applies(tmp_path):
    from privids.federated import load_partition_file, read_transform

    runner = CliRunner()
    orgs = [shared_path("data", "cicids2017", "machinelearningcve", f)
            for f in ("friday_ddos_sample_pecord.csv", "friday_portscan_sample_pecord.csv")]  # fmt: skip
    for i, org in enumerate(orgs):
        r = runner.invoke(build_app(), ["federate-org", "--data", str(org), "--summary", str(tmp_path / f"s{i}.json")])
        assert r.exit_code == 0, r.output
    r = runner.invoke(build_app(), ["federate-merge", str(tmp_path / "s0.json"), str(tmp_path / "s1.json"), "--out", str(tmp_path / "t.json"), "--json"])
    assert r.exit_code == 0, r.output
    merged = read_transform(tmp_path / "t.json")
    assert json.loads(r.output)["features"] == len(merged.feature_names)
    r = runner.invoke(build_app(), ["federate-org", "--data", str(orgs[1]), "--transform", str(tmp_path / "t.json"), "--org-id", "1", "--out", str(tmp_path / "o1.npz")])
    assert r.exit_code == 0, r.output
    assert load_partition_file(tmp_path / "o1.npz").X.shape[1] == len(merged.feature_names)


def test_federate_org_without_a_step_names_both_options(tmp_path):
    path = shared_path(*SAMPLE)
    r = CliRunner().invoke(build_app(), ["federate-org", "--data", str(path)])
    assert r.exit_code == 3 and "--summary FILE (step 1) or --transform FILE --out FILE (step 2)" in " ".join(r.output.split())
