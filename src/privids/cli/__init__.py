"""Command-line interface: ``privids <command>``; thin shells over library calls."""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``privids`` console script.

    Errors privids raises on purpose are printed as one line by each command (see
    ``privids.cli._errors``). Anything else is a bug: it is reported in one line too, with exit
    code 1, unless ``PRIVIDS_DEBUG=1`` asks for the full traceback.
    """
    from privids.cli._app import build_app

    try:
        build_app()()
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as e:
        if os.environ.get("PRIVIDS_DEBUG", "").strip() not in ("", "0"):
            raise
        # A user cannot act on a 30-line traceback; one line says what broke and how to get more.
        print(f"internal error: {type(e).__name__}: {e}; this is a bug, please report it; "
              "set PRIVIDS_DEBUG=1 for the traceback", file=sys.stderr)
        sys.exit(1)
