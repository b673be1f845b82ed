"""The command table: commands attached in one place, their examples data that feeds --help."""

from __future__ import annotations

import ast

import pytest
import typer
from typer.main import get_command

from dropctl.cli import COMMANDS, app
from dropctl.cli._app import Command, Example, register
from dropctl.cli.reference import cli_reference
from tests.support import ROOT

HELP_ORDER = ["inspect", "mc-predict", "diff", "calibrate", "convert", "export", "check"]
"""The order ``dropctl --help`` has always listed the commands in."""


def test_the_table_is_the_app_in_help_order() -> None:
    assert [c.name for c in COMMANDS] == HELP_ORDER
    assert list(get_command(app).commands) == HELP_ORDER  # type: ignore[attr-defined]


def test_root_help_lists_the_commands_in_table_order(cli_runner) -> None:
    result = cli_runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    positions = [result.stdout.index(f"│ {name} ") for name in HELP_ORDER]
    assert positions == sorted(positions), result.stdout
    for panel in {c.panel for c in COMMANDS}:
        assert panel in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_example_is_in_the_help_epilog_as_typed(cli_runner, command: Command) -> None:
    """Each example prints whole on one line (wide terminal), globs included: the epilog
    writes commands as code, so Markdown never eats ``'*dropout*'`` as emphasis."""
    assert command.examples
    result = cli_runner.invoke(app, [command.name, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    lines = [line.strip() for line in result.stdout.splitlines()]
    for example in command.examples:
        assert f"Example: {example.command}" in lines, result.stdout
        assert f"{example.does}." in lines, result.stdout


def test_every_example_is_in_the_cli_reference() -> None:
    reference = cli_reference()
    for command in COMMANDS:
        for example in command.examples:
            assert f"- `{example.command}`: {example.does}." in reference


def test_a_command_without_an_example_is_refused() -> None:
    bare = typer.Typer()
    with pytest.raises(ValueError, match="at least one example"):
        register(bare, [Command("nothing", lambda: None, "Panel", ())])
    register(bare, [Command("something", lambda: None, "Panel", (Example("x", "Does x"),))])
    assert [c.name for c in bare.registered_commands] == ["something"]


def test_no_module_registers_a_command_by_being_imported() -> None:
    """Only the table in dropctl/cli/__init__.py attaches commands: no ``@app.command``
    decorator or ``app.command(...)`` call anywhere else in the package."""
    offenders = []
    for path in sorted((ROOT / "dropctl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("command", "add_typer")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "app"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_examples_live_in_the_table_only(command: Command) -> None:
    """A help text with its own 'Example:' line would print it twice (and out of the epilog):
    examples are added to COMMANDS, never to a docstring."""
    assert "Example:" not in (command.help or command.function.__doc__ or "")
