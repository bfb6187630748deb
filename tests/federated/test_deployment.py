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


def _two_organisations(tmp_path: Path) -> list[Path]:
    """Two organisations' files, as `privids federate --export` writes them (last: server eval data)."""
    return export_partitions(make_synthetic(n=400), FederatedConfig(clients=2, seed=0), tmp_path / "orgs")


def _flwr_home(tmp_path: Path, name: str, connection: str) -> dict[str, str]:
    """A private FLWR_HOME whose default SuperLink connection is ``name``; returns the process env."""
    home = tmp_path / "flwr-home"
    home.mkdir()
    (home / "config.toml").write_text(f'[superlink]\ndefault = "{name}"\n\n[superlink.{name}]\n{connection}')
    return _env(home)


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
    files = _two_organisations(tmp_path)
    link = _free_port()
    env = _flwr_home(tmp_path, "local-deploy", f'address = "127.0.0.1:{link}"\ninsecure = true\n')
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


def _write_tls(folder: Path) -> tuple[Path, Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privids test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.crt", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _write_node_keys(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    # Flower reads SuperNode keys in OpenSSH format (like `ssh-keygen -t ecdsa -b 384`).
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
    return private, public


def test_tls_and_node_authentication_with_self_signed_certificates(tmp_path):
    # Arrange: a CA, a SuperLink certificate for 127.0.0.1, one EC key pair per SuperNode
    files = _two_organisations(tmp_path)
    ca, cert, key = _write_tls(tmp_path / "certs")
    node_keys = [_write_node_keys(tmp_path / "certs", f"org{i}") for i in range(2)]
    link = _free_port()
    env = _flwr_home(tmp_path, "tls", f'address = "127.0.0.1:{link}"\nroot-certificates = "{ca}"\n')
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("superlink", "node0", "node1")}  # noqa: SIM115
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [str(BIN / "flower-superlink"), "--ssl-ca-certfile", str(ca), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
             "--enable-supernode-auth", "--host", "127.0.0.1", "--port", str(link), "--disable-runtime-dependency-installation"],
            env=env, stdout=logs["superlink"], stderr=subprocess.STDOUT, cwd=tmp_path,
        ))  # fmt: skip
        _wait_for_port(link, procs)
        for _, public in node_keys:
            reg = subprocess.run([str(BIN / "flwr"), "supernode", "register", str(public), "tls"], env=env, capture_output=True, text=True, timeout=60)
            assert reg.returncode == 0, reg.stdout + reg.stderr
        for i, (private, _) in enumerate(node_keys):
            procs.append(subprocess.Popen(
                [str(BIN / "flower-supernode"), "--root-certificates", str(ca), "--superlink", f"127.0.0.1:{link}",
                 "--auth-supernode-private-key", str(private), "--port", str(_free_port()),
                 "--node-config", f"data-path='{files[i]}' partition-id={i}"],
                env=env, stdout=logs[f"node{i}"], stderr=subprocess.STDOUT, cwd=tmp_path,
            ))  # fmt: skip
        # Act
        out = subprocess.run(
            [str(BIN / "flwr"), "run", str(REPO), "tls", "--stream", "--run-config",
             "num-server-rounds=1 local-epochs=1 min-nodes=2 expected-nodes=2 connect-timeout=30.0"],
            env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )  # fmt: skip
    finally:
        _stop(procs)
        for f in logs.values():
            f.close()
    # Assert
    text = out.stdout + out.stderr
    assert re.search(r"privids round 1: accepted=\[0, 1\] rejected=\{\}", text), (
        text[-3000:] + (tmp_path / "node0.log").read_text()[-2000:]
    )
