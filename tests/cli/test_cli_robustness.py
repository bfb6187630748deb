"""CLI robustness: bugs reported in one line, brackets in help and errors printed literally."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

import privids.cli._app as cli_app
from privids.cli import main
from privids.cli._app import build_app


def _failing_app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise KeyError("no such column")

    return app


def test_unexpected_exception_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli_app, "build_app", _failing_app)
    monkeypatch.setattr(sys, "argv", ["privids"])
    monkeypatch.delenv("PRIVIDS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "internal error: KeyError: 'no such column'; this is a bug, please report it; "
        "set PRIVIDS_DEBUG=1 for the traceback"
    ]


def test_privids_debug_reraises_with_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "build_app", _failing_app)
    monkeypatch.setattr(sys, "argv", ["privids"])
    monkeypatch.setenv("PRIVIDS_DEBUG", "1")
    with pytest.raises(KeyError, match="no such column"):
        main()


def _commands(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, [*path, name])


def test_every_help_text_keeps_its_brackets() -> None:
    # "study.toml with [data], [train], ..." used to render as "study.toml with , , , ."
    app = build_app()
    checked = 0
    for path, cmd in _commands(typer.main.get_command(app), []):
        res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "250"}, terminal_width=250)
        assert res.exit_code == 0, res.output
        shown = " ".join(res.output.replace("│", " ").split())
        for text in [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]:
            for token in re.findall(r"\[[^\]]*\]", text):
                checked += 1
                assert " ".join(token.split()) in shown, (path, token)
    assert checked >= 5  # the attack commands name [attack], [data], [train], ... sections


def test_config_error_keeps_the_section_name(tmp_path: Path) -> None:
    cfg = tmp_path / "study.toml"
    cfg.write_text("[train]\nbogus = 1\n", encoding="utf-8")
    res = CliRunner().invoke(build_app(), ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                                           "--config", str(cfg)], env={"COLUMNS": "250"})
    assert res.exit_code == 3
    assert "unknown key(s) in [train]: ['bogus']" in " ".join(res.output.split())


def test_membership_table_says_na_without_dp(capsys: pytest.CaptureFixture[str]) -> None:
    # A non-private model's bound is 1; "within bound: yes" there read as a privacy guarantee.
    from privids.attacks.membership import MembershipRow, MembershipTable
    from privids.cli import attack

    common = dict(attack="loss", delta=0.0, auc=0.5, advantage=0.01, tpr_at_0_1pct=0.0, tpr_at_1pct=0.01,
                  bound_advantage=1.0, bound_tpr_at_0_1pct=1.0, bound_tpr_at_1pct=1.0, n_members=10,
                  n_nonmembers=10, min_resolvable_fpr=0.1)
    rows = (MembershipRow(model="plain", epsilon=None, within_bound=None, **common),
            MembershipRow(model="dp", epsilon=1.0, within_bound=True, **common))
    wide = attack.Console(width=250)
    old, attack._out = attack._out, wide
    try:
        attack._render_membership(MembershipTable(rows=rows))
    finally:
        attack._out = old
    lines = capsys.readouterr().out.splitlines()
    assert any("plain" in ln and "n/a (no DP)" in ln for ln in lines)
    assert any(" dp " in ln and ln.rstrip(" │").endswith("yes") for ln in lines)
