"""The CLI reference as Markdown, generated from the Typer app itself (``scripts/docs.py``).

Every command, argument and option the app defines appears once, with its help text, type and
default, and the examples of the command table (:data:`dropctl.cli.COMMANDS`, the same data as
each ``--help`` epilog), so the reference page cannot drift from ``dropctl --help``; a test
regenerates it. Typer
0.26-0.28 vendors its own click, so the objects are read by duck typing, not ``isinstance``.
"""

from __future__ import annotations

from typing import Any

import typer.main

from dropctl.cli import COMMANDS, app


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _type(param: Any) -> str:
    if getattr(param.type, "choices", None):
        return " \\| ".join(f"`{c}`" for c in param.type.choices)
    if getattr(param, "is_flag", False):
        return "flag"
    metavar = getattr(param, "metavar", None)
    if metavar:
        return f"`{metavar}`"
    name = getattr(param.type, "name", "") or ""
    return {"integer": "integer", "float": "number", "text": "text", "path": "path",
            "integer range": "integer", "float range": "number"}.get(name, name or "value")


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if value is None or value is False or value == () or value == []:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(f"`{v}`" for v in value)
    return f"`{getattr(value, 'value', value)}`"


def _options(command: Any) -> list[str]:
    rows = ["| argument / option | type | default | description |", "|---|---|---|---|"]
    for p in command.params:
        if p.name in ("help",) or getattr(p, "hidden", False):
            continue
        if p.param_type_name == "argument":
            name = f"`{(p.metavar or p.name or '').upper()}`" + (" ..." if p.nargs == -1 else "")
        else:
            name = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        rows.append(f"| {name} | {_type(p)} | {_default(p)} | {_cell(getattr(p, 'help', '') or '')} |")
    return rows


def _usage(command: Any) -> str:
    pieces = ["[OPTIONS]"] if any(p.param_type_name == "option" for p in command.params) else []
    for p in command.params:
        if p.param_type_name == "argument":
            meta = (p.metavar or p.name or "").upper() + ("..." if p.nargs == -1 else "")
            pieces.append(meta if p.required else f"[{meta}]")
    return " ".join(pieces)


def cli_reference() -> str:
    """One section per command, in ``dropctl --help`` order: synopsis, help text, options."""
    group: Any = typer.main.get_command(app)  # a TyperGroup (Typer vendors its own click)
    examples = {c.name: c.examples for c in COMMANDS}
    out: list[str] = []
    for name, command in group.commands.items():
        help_text = (command.help or "").strip()
        out += [f"## `dropctl {name}`", "", "```text", f"dropctl {name} {_usage(command)}", "```", ""]
        paragraphs = [" ".join(p.split()) for p in help_text.split("\n\n") if p.strip()]
        out += [*(p + "\n" for p in paragraphs)]
        out += ["Examples:", "", *(f"- `{e.command}`: {e.does}." for e in examples[name]), ""]
        out += [*_options(command), ""]
    out += ["## Global options", "", *_options(group), ""]
    return "\n".join(out).rstrip("\n")


TABLES = {"cli": cli_reference}
"""Generated block name (``<!-- generated:NAME -->``) -> function, for ``scripts/docs.py``."""
