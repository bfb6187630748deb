"""A real deployment on 127.0.0.1: one SuperLink, two SuperNodes, one round of the privids apps."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, make_synthetic

from privids.config import FederatedConfig
from privids.federated.simulation import export_partitions

pytestmark = [pytest.mark.fl, pytest.mark.slow]

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FLWR_HOME": str(home), "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "RAY_USAGE_STATS_ENABLED": "0",
        "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    })  # fmt: skip
    return env


def _wait_for_port(port: int, procs: list[subprocess.Popen], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise AssertionError("a Flower process exited early")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def test_superlink_and_two_supernodes_run_one_round_of_the_privids_apps(tmp_path):
    # Arrange: two organisations' files, as `privids federate --export` writes them
    data = make_synthetic(n=400)
    files = export_partitions(data, FederatedConfig(clients=2, seed=0), tmp_path / "orgs")
    home = tmp_path / "flwr-home"
    home.mkdir()
    link = _free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "local-deploy"\n\n[superlink.local-deploy]\naddress = "127.0.0.1:{link}"\ninsecure = true\n'
    )
    env = _env(home)
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("superlink", "node0", "node1")}  # noqa: SIM115
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [str(BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(link),
             "--disable-runtime-dependency-installation"],
            env=env, stdout=logs["superlink"], stderr=subprocess.STDOUT, cwd=tmp_path,
        ))  # fmt: skip
        _wait_for_port(link, procs)
        for i in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{link}", "--port", str(_free_port()),
                 "--node-config", f"data-path='{files[i]}' partition-id={i}"],
                env=env, stdout=logs[f"node{i}"], stderr=subprocess.STDOUT, cwd=tmp_path,
            ))  # fmt: skip
        run_config = f"num-server-rounds=1 local-epochs=1 min-nodes=2 expected-nodes=2 connect-timeout=30.0 eval-path='{files[-1]}'"
        # Act
        out = subprocess.run(
            [str(BIN / "flwr"), "run", str(REPO), "local-deploy", "--stream", "--run-config", run_config],
            env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )  # fmt: skip
    finally:
        _stop(procs)
        for f in logs.values():
            f.close()
    # Assert: the ServerApp printed its round summary with both organisations accepted
    text = out.stdout + out.stderr
    match = re.search(r"privids round 1: accepted=\[(.*?)\] rejected=(\{.*?\}) server=(\{.*?\})", text)
    assert match, f"no round summary in flwr run output:\n{text[-3000:]}"
    assert match.group(1) == "0, 1" and match.group(2) == "{}"
    acc = float(re.search(r"'eval_accuracy': ([0-9.]+)", match.group(3)).group(1))
    assert 0.0 <= acc <= 1.0 and np.isfinite(acc)
