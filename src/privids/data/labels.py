"""Canonical attack labels and their families, whatever the dataset copy or its encoding.

Each known spelling is listed explicitly (CIC-IDS2017, CSE-CIC-IDS2018, the improved
re-extraction, BCCC). The web-attack dash exists as the cp1252 byte 0x96, U+0096 (latin-1 read,
UTF-8 written), U+FFFD (replaced), its double-encoded mojibake ``ï¿½``, a real en dash and a
plain hyphen; all of them become `` - `` before the lookup, so one dataset yields three web-attack
classes, not nine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from privids.exceptions import DataError

__all__ = [
    "BENIGN",
    "FAMILIES",
    "attack_family",
    "binary_target",
    "canonical_label",
    "families_of",
    "normalise_labels",
]

BENIGN = "BENIGN"
FAMILIES: tuple[str, ...] = (
    "BENIGN", "DoS", "DDoS", "PortScan", "Brute Force", "Web Attack", "Bot", "Infiltration", "Heartbleed",
)  # fmt: skip

# Every character sequence that stood for the en dash in some copy of the data.
_DASHES = ("ï¿½", "â€“", "\ufffd", "\u0096", "\u2013", "\u2014")

# casefolded, dash-normalised spelling -> (canonical label, family)
_KNOWN: dict[str, tuple[str, str]] = {}


def _add(canonical: str, family: str, *spellings: str) -> None:
    for s in (canonical, *spellings):
        _KNOWN[_key(s)] = (canonical, family)


def _clean(text: str) -> str:
    for d in _DASHES:
        text = text.replace(d, "-")
    # Only a dash between words becomes " - "; "FTP-Patator" and "LOIC-HTTP" keep theirs.
    text = re.sub(r"\s+-\s*|\s*-\s+", " - ", text.strip())
    return " ".join(text.split())


def _key(text: str) -> str:
    return _clean(text).casefold()


_add("BENIGN", "BENIGN", "Benign", "Normal")
_add("DDoS", "DDoS", "DDoS LOIT", "DDOS attack-LOIC", "DDoS-LOIC")
_add("DDoS HOIC", "DDoS", "DDOS attack-HOIC", "DDoS attacks-HOIC")
_add("DDoS LOIC-HTTP", "DDoS", "DDoS attacks-LOIC-HTTP", "DDOS attack-LOIC-HTTP")
_add("DDoS LOIC-UDP", "DDoS", "DDOS attack-LOIC-UDP", "DDoS attacks-LOIC-UDP")
_add("DoS Hulk", "DoS", "DoS attacks-Hulk", "DoS_Hulk")
_add("DoS GoldenEye", "DoS", "DoS attacks-GoldenEye", "DoS_GoldenEye")
_add("DoS slowloris", "DoS", "DoS attacks-Slowloris", "DoS Slowloris", "DoS_Slowloris")
_add("DoS Slowhttptest", "DoS", "DoS attacks-SlowHTTPTest", "DoS SlowHTTPTest", "DoS_Slowhttptest")
_add("PortScan", "PortScan", "Portscan", "Port Scan")
_add("FTP-Patator", "Brute Force", "FTP-BruteForce", "FTP Patator", "FTP_Patator")
_add("SSH-Patator", "Brute Force", "SSH-Bruteforce", "SSH-BruteForce", "SSH Patator", "SSH_Patator")
_add("Web Attack - Brute Force", "Web Attack", "Brute Force -Web", "Brute Force - Web", "Web_Brute_Force")
_add("Web Attack - XSS", "Web Attack", "Brute Force -XSS", "Brute Force - XSS", "Web_XSS")
_add(
    "Web Attack - Sql Injection", "Web Attack", "SQL Injection", "Web Attack - SQL Injection", "Web_SQL_Injection"
)
_add("Bot", "Bot", "Botnet", "Botnet_ARES", "Botnet ARES", "Bot ARES")
_add("Infiltration", "Infiltration", "Infilteration", "Infiltration - Dropbox Download", "Infiltration - Cool disk")
_add("Infiltration - Portscan", "Infiltration", "Infiltration - Port Scan")
_add("Heartbleed", "Heartbleed", "Heartbleed-Port444")

_ATTEMPTED = " - attempted"


def canonical_label(raw: str) -> str:
    """The canonical spelling of one label (unknown labels come back cleaned, not rejected).

    Parameters
    ----------
    raw : str
        A label as found in any copy of the data.

    Returns
    -------
    str
        For example ``"Web Attack \\x96 XSS"`` and ``"Brute Force -XSS"`` both give
        ``"Web Attack - XSS"``; ``"Infilteration"`` gives ``"Infiltration"``.

    Examples
    --------
    >>> canonical_label("DoS attacks-Hulk")
    'DoS Hulk'
    """
    key = _key(raw)
    hit = _KNOWN.get(key)
    if hit is not None:
        return hit[0]
    # The improved re-extraction marks failed attempts as "<attack> - Attempted".
    if key.endswith(_ATTEMPTED) and key[: -len(_ATTEMPTED)] in _KNOWN:
        return _KNOWN[key[: -len(_ATTEMPTED)]][0] + " - Attempted"
    return _clean(raw)


def attack_family(label: str) -> str:
    """The attack family of a label (raw or canonical).

    Parameters
    ----------
    label : str

    Returns
    -------
    str
        One of :data:`FAMILIES`.

    Raises
    ------
    DataError
        The label is not a known spelling of any CIC-IDS2017/2018 class.
    """
    key = _key(label)
    if key.endswith(_ATTEMPTED):
        key = key[: -len(_ATTEMPTED)]
    hit = _KNOWN.get(key)
    if hit is None:
        raise DataError(
            f"unknown attack label {label!r}: it maps to none of the families {list(FAMILIES)}; "
            "fix: correct the label, or add its spelling to privids.data.labels."
        )
    return hit[1]


def normalise_labels(raw: Iterable[str]) -> tuple[np.ndarray, dict[str, dict[str, int | str]]]:
    """Canonicalise a column of labels, returning the mapping that was applied.

    Parameters
    ----------
    raw : iterable of str
        Raw label cells (after decoding).

    Returns
    -------
    labels : ndarray of object
        Canonical labels, one per input cell.
    mapping : dict
        ``raw spelling -> {"canonical": ..., "rows": n}`` for every spelling that changed,
        for the data report.
    """
    arr = np.asarray(list(raw) if not isinstance(raw, np.ndarray) else raw, dtype=object)
    uniques, inverse = np.unique(arr.astype(str), return_inverse=True)
    canon = np.array([canonical_label(u) for u in uniques], dtype=object)
    counts = np.bincount(inverse.ravel(), minlength=len(uniques))
    changed = {
        str(u): {"canonical": str(c), "rows": int(n)} for u, c, n in zip(uniques, canon, counts, strict=True) if u != c
    }
    return canon[inverse.ravel()], changed


def _factorize(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Hash-based: millions of labels without a Python-level string sort.
    codes, uniques = pd.factorize(np.asarray(labels, dtype=object))
    return codes, np.asarray(uniques, dtype=object)


def families_of(labels: np.ndarray) -> np.ndarray:
    """Vectorised :func:`attack_family` over an array of labels (object array out)."""
    codes, uniques = _factorize(labels)
    fam = np.array([attack_family(str(u)) for u in uniques], dtype=object)
    return fam[codes] if len(codes) else np.empty(0, dtype=object)


def binary_target(labels: np.ndarray) -> np.ndarray:
    """0 for BENIGN, 1 for every attack label (int64)."""
    codes, uniques = _factorize(labels)
    attack = np.array([str(u) != BENIGN for u in uniques], dtype=np.int64)
    return attack[codes] if len(codes) else np.empty(0, dtype=np.int64)
