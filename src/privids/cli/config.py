"""``privids config show``: the full study configuration as TOML."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from privids.cli._errors import friendly_errors

config_app = typer.Typer(help="Inspect the study configuration.", no_args_is_help=True)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML; got {v!r}.")


def render_toml(values: Mapping[str, Any]) -> str:
    """TOML text of a nested config dict; ``None`` values become comments (TOML has no null)."""
    lines: list[str] = []
    tables = {k: v for k, v in values.items() if isinstance(v, Mapping)}
    for k, v in values.items():
        if k in tables:
            continue
        lines.append(f"# {k} = (unset: default)" if v is None else f"{k} = {_value(v)}")
    for name, sub in tables.items():
        lines.append("")
        lines.append(f"[{name}]")
        for k, v in sub.items():
            lines.append(f"# {k} = (unset: default)" if v is None else f"{k} = {_value(v)}")
    return "\n".join(lines).lstrip("\n") + "\n"


@config_app.command("show")
@friendly_errors
def show(
    config: Annotated[Path | None, typer.Option("--config", help="study.toml to read (default: built-in defaults).")] = None,
) -> None:
    """Print every hyperparameter of `privids run` (defaults merged with --config) as TOML."""
    from privids.config import config_to_dict, load_run_config

    typer.echo(render_toml(config_to_dict(load_run_config(config))), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``privids config`` to ``app``."""
    app.add_typer(config_app, name="config")
