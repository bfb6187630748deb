"""Command-line interface: ``privids <command>``; thin shells over library calls."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``privids`` console script."""
    from privids.cli._app import build_app

    build_app()()
