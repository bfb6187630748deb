"""Turn privids errors into one clear console line and the error's exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from privids.exceptions import PrivIDSError

F = TypeVar("F", bound=Callable[..., Any])

_err = Console(stderr=True)


def friendly_errors(func: F) -> F:
    """Decorator for command handlers: a PrivIDSError prints its message, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PrivIDSError as e:
            # Messages quote user input and TOML sections ("[train]", "['lr']"): escaped, so Rich
            # prints them instead of reading them as markup tags.
            _err.print(f"[bold red]error:[/] {escape(str(e))}", markup=True, highlight=False)
            raise typer.Exit(code=e.exit_code) from e

    return wrapper  # type: ignore[return-value]
