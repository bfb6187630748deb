"""privids.serve: scoring flows with a stored model, the scoring API, and DP continual learning."""

from privids.serve.app import create_app
from privids.serve.continual import UpdateResult, initial_ledger, plan_update, update_artifact
from privids.serve.model_info import epsilon_spent, ledger_of, model_summary
from privids.serve.payloads import ParsedFlows, RequestError, flows_from_json
from privids.serve.scoring import IDENTIFIER_FIELDS, ScoreResult, Scorer, score_table, write_alerts
from privids.serve.tables import score_csv_bytes, score_path

__all__ = [
    "IDENTIFIER_FIELDS",
    "ParsedFlows",
    "RequestError",
    "ScoreResult",
    "Scorer",
    "UpdateResult",
    "create_app",
    "epsilon_spent",
    "flows_from_json",
    "initial_ledger",
    "ledger_of",
    "model_summary",
    "plan_update",
    "score_csv_bytes",
    "score_path",
    "score_table",
    "update_artifact",
    "write_alerts",
]
