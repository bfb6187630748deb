"""Command registration only: each command module exposes ``register(app)``."""

from __future__ import annotations

import importlib
import logging
import os

import typer

# One module per command family, in the order they appear in --help.
_COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "config",
    "data",
    "download",
    "explain",
    "train",
    "tradeoff",
    "federate",
    "attack",
    "score", "serve", "update",
)


def _quiet_third_parties() -> None:
    # A privacy tool makes no network calls it was not asked to make: Flower's telemetry and
    # update check are opt-out, so opt out before anything imports flwr.
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def build_app() -> typer.Typer:
    """Build the Typer application with every registered command."""
    _quiet_third_parties()
    app = typer.Typer(
        name="privids",
        help="Privacy-preserving intrusion detection on network flow records.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        # Help strings name TOML sections ("[data], [train]"); Rich markup read them as tags and
        # dropped them. Markdown keeps brackets literal and still renders Typer's panels (None
        # falls back to Click's formatter, which then prints Typer's escaped "\\[default: ...]").
        rich_markup_mode="markdown",
    )
    for name in _COMMAND_MODULES:
        importlib.import_module(f"privids.cli.{name}").register(app)
    return app
