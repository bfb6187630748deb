"""privids.report: figures, report sections, the self-contained report.html and metrics.json."""

from privids.report.html import Figure, Section, Table, Text, format_cell, render_report, write_report
from privids.report.metrics_json import to_jsonable, write_metrics

__all__ = [
    "Figure",
    "Section",
    "Table",
    "Text",
    "format_cell",
    "render_report",
    "to_jsonable",
    "write_metrics",
    "write_report",
]
