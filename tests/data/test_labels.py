"""Tests for privids.data.labels: one canonical spelling per class, whatever the copy."""

from __future__ import annotations

import numpy as np
import pytest

from privids.data.labels import (
    FAMILIES,
    attack_family,
    binary_target,
    canonical_label,
    families_of,
    normalise_labels,
)
from privids.exceptions import DataError

# The web-attack dash as found in real copies: cp1252 byte read lossy (U+FFFD), U+0096
# (latin-1 read, UTF-8 written), the double-encoded U+FFFD, the real en dash, a hyphen.
_DASH_FORMS = [
    b"Web Attack \x96 XSS".decode("utf-8", errors="replace"),
    b"Web Attack \x96 XSS".decode("latin-1"),
    "Web Attack \ufffd XSS".encode("utf-8").decode("cp1252", errors="replace"),
    "Web Attack \u2013 XSS",
    "Web Attack - XSS",
    "  Web Attack  -  XSS ",
    "Brute Force -XSS",
]


@pytest.mark.parametrize("raw", _DASH_FORMS)
def test_every_dash_encoding_gives_one_label(raw):
    assert canonical_label(raw) == "Web Attack - XSS"
    assert attack_family(raw) == "Web Attack"


@pytest.mark.parametrize(
    ("raw", "canonical", "family"),
    [
        ("Benign", "BENIGN", "BENIGN"),
        ("Infilteration", "Infiltration", "Infiltration"),
        ("DoS attacks-Hulk", "DoS Hulk", "DoS"),
        ("DoS attacks-SlowHTTPTest", "DoS Slowhttptest", "DoS"),
        ("DoS attacks-Slowloris", "DoS slowloris", "DoS"),
        ("DDOS attack-HOIC", "DDoS HOIC", "DDoS"),
        ("DDoS attacks-LOIC-HTTP", "DDoS LOIC-HTTP", "DDoS"),
        ("Botnet", "Bot", "Bot"),
        ("Botnet_ARES", "Bot", "Bot"),
        ("FTP-BruteForce", "FTP-Patator", "Brute Force"),
        ("SSH-Bruteforce", "SSH-Patator", "Brute Force"),
        ("Portscan", "PortScan", "PortScan"),
        ("Web Attack - SQL Injection", "Web Attack - Sql Injection", "Web Attack"),
        ("SQL Injection", "Web Attack - Sql Injection", "Web Attack"),
        ("Heartbleed", "Heartbleed", "Heartbleed"),
        ("Infiltration - Portscan", "Infiltration - Portscan", "Infiltration"),
        ("DoS Hulk - Attempted", "DoS Hulk - Attempted", "DoS"),
    ],
)
def test_explicit_spellings(raw, canonical, family):
    assert canonical_label(raw) == canonical
    assert attack_family(raw) == family
    assert family in FAMILIES


def test_unknown_label_is_refused_with_the_families_listed():
    assert canonical_label("  Exploits ") == "Exploits"
    with pytest.raises(DataError, match=r"unknown attack label 'Exploits'.*BENIGN"):
        attack_family("Exploits")


def test_normalise_reports_rewritten_spellings_and_counts():
    raw = np.array(["Benign", "BENIGN", "Benign", "Infilteration"], dtype=object)
    labels, changed = normalise_labels(raw)
    assert labels.tolist() == ["BENIGN", "BENIGN", "BENIGN", "Infiltration"]
    assert changed == {
        "Benign": {"canonical": "BENIGN", "rows": 2},
        "Infilteration": {"canonical": "Infiltration", "rows": 1},
    }
    assert binary_target(labels).tolist() == [0, 0, 0, 1]
    assert families_of(labels).tolist() == ["BENIGN", "BENIGN", "BENIGN", "Infiltration"]
