"""The canonical flow-feature schema and how every supported file layout maps onto it.

The canonical features are the 78 CIC-IDS2017 *MachineLearningCVE* features with their names
stripped and the duplicated ``Fwd Header Length`` merged into one column: 77 features. Other
layouts (TrafficLabelling, CSE-CIC-IDS2018, the improved Engelen re-extraction) rename those same
quantities; their aliases are listed explicitly below so that a new spelling is a reviewed edit,
not a fuzzy guess. Identifier columns (flow id, IPs, source port, timestamp, ...) map to metadata
keys and never become features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from privids.exceptions import SchemaError

__all__ = [
    "CANONICAL_FEATURES",
    "DUPLICATED_FEATURE",
    "IDENTIFIER_COLUMNS",
    "LABEL_COLUMN",
    "ColumnMapping",
    "map_columns",
]

CANONICAL_FEATURES: tuple[str, ...] = (
    "Destination Port", "Flow Duration", "Total Fwd Packets", "Total Backward Packets",
    "Total Length of Fwd Packets", "Total Length of Bwd Packets", "Fwd Packet Length Max",
    "Fwd Packet Length Min", "Fwd Packet Length Mean", "Fwd Packet Length Std",
    "Bwd Packet Length Max", "Bwd Packet Length Min", "Bwd Packet Length Mean",
    "Bwd Packet Length Std", "Flow Bytes/s", "Flow Packets/s", "Flow IAT Mean", "Flow IAT Std",
    "Flow IAT Max", "Flow IAT Min", "Fwd IAT Total", "Fwd IAT Mean", "Fwd IAT Std", "Fwd IAT Max",
    "Fwd IAT Min", "Bwd IAT Total", "Bwd IAT Mean", "Bwd IAT Std", "Bwd IAT Max", "Bwd IAT Min",
    "Fwd PSH Flags", "Bwd PSH Flags", "Fwd URG Flags", "Bwd URG Flags", "Fwd Header Length",
    "Bwd Header Length", "Fwd Packets/s", "Bwd Packets/s", "Min Packet Length",
    "Max Packet Length", "Packet Length Mean", "Packet Length Std", "Packet Length Variance",
    "FIN Flag Count", "SYN Flag Count", "RST Flag Count", "PSH Flag Count", "ACK Flag Count",
    "URG Flag Count", "CWE Flag Count", "ECE Flag Count", "Down/Up Ratio", "Average Packet Size",
    "Avg Fwd Segment Size", "Avg Bwd Segment Size", "Fwd Avg Bytes/Bulk", "Fwd Avg Packets/Bulk",
    "Fwd Avg Bulk Rate", "Bwd Avg Bytes/Bulk", "Bwd Avg Packets/Bulk", "Bwd Avg Bulk Rate",
    "Subflow Fwd Packets", "Subflow Fwd Bytes", "Subflow Bwd Packets", "Subflow Bwd Bytes",
    "Init_Win_bytes_forward", "Init_Win_bytes_backward", "act_data_pkt_fwd",
    "min_seg_size_forward", "Active Mean", "Active Std", "Active Max", "Active Min", "Idle Mean",
    "Idle Std", "Idle Max", "Idle Min",
)  # fmt: skip

DUPLICATED_FEATURE = "Fwd Header Length"
LABEL_COLUMN = "Label"

# canonical feature -> other spellings (CSE-CIC-IDS2018 abbreviations, improved re-extraction).
_FEATURE_ALIASES: dict[str, tuple[str, ...]] = {
    "Destination Port": ("Dst Port",),
    "Total Fwd Packets": ("Tot Fwd Pkts", "Total Fwd Packet"),
    "Total Backward Packets": ("Tot Bwd Pkts", "Total Bwd packets"),
    "Total Length of Fwd Packets": ("TotLen Fwd Pkts", "Total Length of Fwd Packet"),
    "Total Length of Bwd Packets": ("TotLen Bwd Pkts", "Total Length of Bwd Packet"),
    "Fwd Packet Length Max": ("Fwd Pkt Len Max",),
    "Fwd Packet Length Min": ("Fwd Pkt Len Min",),
    "Fwd Packet Length Mean": ("Fwd Pkt Len Mean",),
    "Fwd Packet Length Std": ("Fwd Pkt Len Std",),
    "Bwd Packet Length Max": ("Bwd Pkt Len Max",),
    "Bwd Packet Length Min": ("Bwd Pkt Len Min",),
    "Bwd Packet Length Mean": ("Bwd Pkt Len Mean",),
    "Bwd Packet Length Std": ("Bwd Pkt Len Std",),
    "Flow Bytes/s": ("Flow Byts/s",),
    "Flow Packets/s": ("Flow Pkts/s",),
    "Fwd IAT Total": ("Fwd IAT Tot",),
    "Bwd IAT Total": ("Bwd IAT Tot",),
    "Fwd Header Length": ("Fwd Header Len",),
    "Bwd Header Length": ("Bwd Header Len",),
    "Fwd Packets/s": ("Fwd Pkts/s",),
    "Bwd Packets/s": ("Bwd Pkts/s",),
    "Min Packet Length": ("Pkt Len Min", "Packet Length Min"),
    "Max Packet Length": ("Pkt Len Max", "Packet Length Max"),
    "Packet Length Mean": ("Pkt Len Mean",),
    "Packet Length Std": ("Pkt Len Std",),
    "Packet Length Variance": ("Pkt Len Var",),
    "FIN Flag Count": ("FIN Flag Cnt",),
    "SYN Flag Count": ("SYN Flag Cnt",),
    "RST Flag Count": ("RST Flag Cnt",),
    "PSH Flag Count": ("PSH Flag Cnt",),
    "ACK Flag Count": ("ACK Flag Cnt",),
    "URG Flag Count": ("URG Flag Cnt",),
    # CICFlowMeter named the CWR flag "CWE"; the improved extractor fixed the spelling.
    "CWE Flag Count": ("CWR Flag Count",),
    "ECE Flag Count": ("ECE Flag Cnt",),
    "Average Packet Size": ("Pkt Size Avg",),
    "Avg Fwd Segment Size": ("Fwd Seg Size Avg", "Fwd Segment Size Avg"),
    "Avg Bwd Segment Size": ("Bwd Seg Size Avg", "Bwd Segment Size Avg"),
    "Fwd Avg Bytes/Bulk": ("Fwd Byts/b Avg", "Fwd Bytes/Bulk Avg"),
    "Fwd Avg Packets/Bulk": ("Fwd Pkts/b Avg", "Fwd Packet/Bulk Avg"),
    "Fwd Avg Bulk Rate": ("Fwd Blk Rate Avg", "Fwd Bulk Rate Avg"),
    "Bwd Avg Bytes/Bulk": ("Bwd Byts/b Avg", "Bwd Bytes/Bulk Avg"),
    "Bwd Avg Packets/Bulk": ("Bwd Pkts/b Avg", "Bwd Packet/Bulk Avg"),
    "Bwd Avg Bulk Rate": ("Bwd Blk Rate Avg", "Bwd Bulk Rate Avg"),
    "Subflow Fwd Packets": ("Subflow Fwd Pkts",),
    "Subflow Fwd Bytes": ("Subflow Fwd Byts",),
    "Subflow Bwd Packets": ("Subflow Bwd Pkts",),
    "Subflow Bwd Bytes": ("Subflow Bwd Byts",),
    "Init_Win_bytes_forward": ("Init Fwd Win Byts", "FWD Init Win Bytes"),
    "Init_Win_bytes_backward": ("Init Bwd Win Byts", "Bwd Init Win Bytes"),
    "act_data_pkt_fwd": ("Fwd Act Data Pkts",),
    "min_seg_size_forward": ("Fwd Seg Size Min",),
}

# metadata key -> spellings. Protocol is kept aside: it is not one of the 78 reference features.
IDENTIFIER_COLUMNS: dict[str, tuple[str, ...]] = {
    "flow_id": ("Flow ID",),
    "src_ip": ("Source IP", "Src IP"),
    "src_port": ("Source Port", "Src Port"),
    "dst_ip": ("Destination IP", "Dst IP"),
    "protocol": ("Protocol",),
    "timestamp": ("Timestamp",),
    "row_id": ("id",),
    "attempted_category": ("Attempted Category",),
}


def _key(name: str) -> str:
    return " ".join(name.strip().split()).casefold()


_FEATURE_LOOKUP: dict[str, str] = {}
for _canon in CANONICAL_FEATURES:
    _FEATURE_LOOKUP[_key(_canon)] = _canon
    for _alias in _FEATURE_ALIASES.get(_canon, ()):
        _FEATURE_LOOKUP[_key(_alias)] = _canon
_IDENT_LOOKUP = {_key(a): meta for meta, aliases in IDENTIFIER_COLUMNS.items() for a in aliases}


@dataclass(frozen=True)
class ColumnMapping:
    """Where each canonical column sits in one file's header.

    Attributes
    ----------
    schema : str
        Detected layout: ``cicids2017-mlcve``, ``cicids2017-trafficlabelling``,
        ``cse-cic-ids2018`` or ``cicids2017-improved``.
    features : dict of str to int
        Canonical feature name -> column position (first copy for the duplicated column).
    duplicate : int or None
        Position of the second ``Fwd Header Length`` copy, when the file has one.
    label : int or None
        Position of the label column (None when absent, allowed for scoring).
    identifiers : dict of str to int
        Metadata key (``flow_id``, ``src_ip``, ``timestamp``, ...) -> column position.
    unused : tuple of str
        Header names that are neither features, identifiers nor the label (reported).
    """

    schema: str
    features: dict[str, int]
    duplicate: int | None
    label: int | None
    identifiers: dict[str, int]
    unused: tuple[str, ...]


def _detect(names: Sequence[str], identifiers: dict[str, int]) -> str:
    keys = {_key(n) for n in names}
    if "attempted category" in keys or "id" in keys:
        return "cicids2017-improved"
    if "tot fwd pkts" in keys or "dst port" in keys:
        return "cse-cic-ids2018"
    if "flow_id" in identifiers or "src_ip" in identifiers:
        return "cicids2017-trafficlabelling"
    return "cicids2017-mlcve"


def _unknown_hint(names: Sequence[str]) -> str:
    keys = [_key(n) for n in names]
    if sum("_" in k and " " not in k for k in keys) > len(keys) // 2:
        return " The header is snake_case, as in BCCC-CIC-IDS2017 / NTLFlowLyzer: a different feature space."
    if "attack_cat" in keys or "sbytes" in keys:
        return " The header looks like UNSW-NB15: a different feature space."
    if keys and all(k.replace(".", "").replace("-", "").isdigit() or k.isalpha() for k in keys[:5]):
        return " The first line looks like data, not a header (NSL-KDD files have no header)."
    return ""


def map_columns(names: Sequence[str], *, source: str) -> ColumnMapping:
    """Map one file's header onto the canonical schema.

    Parameters
    ----------
    names : sequence of str
        Header names as read (leading spaces, BOM already removed or not: both are tolerated).
    source : str
        File name, for the error message.

    Returns
    -------
    ColumnMapping

    Raises
    ------
    SchemaError
        One error listing every canonical feature the header lacks.
    """
    features: dict[str, int] = {}
    identifiers: dict[str, int] = {}
    duplicate: int | None = None
    label: int | None = None
    unused: list[str] = []
    for i, raw in enumerate(names):
        key = _key(raw.lstrip("\ufeff"))
        base = key[:-2] if key.endswith(".1") else key
        canon = _FEATURE_LOOKUP.get(base)
        if canon is not None:
            if canon not in features:
                features[canon] = i
            elif canon == DUPLICATED_FEATURE and duplicate is None:
                duplicate = i
            else:
                unused.append(raw.strip())
        elif key == _key(LABEL_COLUMN):
            label = i
        elif key in _IDENT_LOOKUP and _IDENT_LOOKUP[key] not in identifiers:
            identifiers[_IDENT_LOOKUP[key]] = i
        else:
            unused.append(raw.strip())
    missing = [c for c in CANONICAL_FEATURES if c not in features]
    if missing:
        shown = ", ".join(repr(n.strip()) for n in list(names)[:8])
        raise SchemaError(
            f"{source}: the header does not match a supported flow schema; missing {len(missing)} of "
            f"{len(CANONICAL_FEATURES)} canonical features: {missing}; got {len(names)} columns "
            f"({shown}, ...).{_unknown_hint(names)} Fix: supply CIC-IDS2017 (MachineLearningCVE or "
            "TrafficLabelling), CSE-CIC-IDS2018 or improved CIC-IDS2017 files, or rename the columns."
        )
    return ColumnMapping(
        schema=_detect(names, identifiers),
        features=features,
        duplicate=duplicate,
        label=label,
        identifiers=identifiers,
        unused=tuple(unused),
    )
