"""Federated learning with Flower 1.42 (Message API): partitions, strategies, ClientApp/ServerApp, runs."""

from privids.federated.client_app import build_client_app, load_partition_file, save_partition_file
from privids.federated.grid import LocalGrid
from privids.federated.guard import GuardedStrategy, ReplyScreen
from privids.federated.local import ClientPartition, LocalSettings, LocalTrainer, LocalUpdate, evaluate_locally, train_locally
from privids.federated.organisation import prepare_organisation, prepare_organisation_file, read_transform, write_transform
from privids.federated.scaler import merge_summaries, organisation_summary, read_summary, write_summary
from privids.federated.partition import parse_scheme, partition_indices, partition_summary
from privids.federated.server_app import PrivacyStatement, RoundMetrics, ServerSpec, run_rounds
from privids.federated.compare import REFERENCE_FEDERATION, Comparison, VariantRow, compare_variants, score_model
from privids.federated.simulation import FederationResult, detection_metrics, export_partitions, make_partitions, run_federation
from privids.federated.strategies import CentralDP, build_strategy, client_level_epsilon, register_strategy, strategy_names

__all__ = sorted(
    [
        "REFERENCE_FEDERATION",
        "CentralDP",
        "Comparison",
        "VariantRow",
        "compare_variants",
        "score_model",
        "ClientPartition",
        "FederationResult",
        "GuardedStrategy",
        "LocalGrid",
        "LocalSettings",
        "LocalTrainer",
        "LocalUpdate",
        "PrivacyStatement",
        "ReplyScreen",
        "RoundMetrics",
        "ServerSpec",
        "build_client_app",
        "build_strategy",
        "client_level_epsilon",
        "detection_metrics",
        "evaluate_locally",
        "load_partition_file",
        "export_partitions",
        "make_partitions",
        "merge_summaries",
        "organisation_summary",
        "parse_scheme",
        "prepare_organisation",
        "prepare_organisation_file",
        "read_summary",
        "read_transform",
        "write_summary",
        "write_transform",
        "partition_indices",
        "partition_summary",
        "register_strategy",
        "run_federation",
        "run_rounds",
        "save_partition_file",
        "strategy_names",
        "train_locally",
    ]
)
