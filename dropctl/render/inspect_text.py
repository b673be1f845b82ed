"""``dropctl inspect`` for people: a header, a table (or tree with ``--all``), findings, verdict."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from dropctl.reader.report import InspectReport, Phase, Severity, Site, Verdict
from dropctl.render.fit import FittedTable, fitted_table

_PHASE_STYLE = {Phase.NEVER: "green", Phase.ALWAYS: "bold red", Phase.UNKNOWN: "yellow"}
_SEV_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_VERDICT_STYLE = {Verdict.YES: "bold green", Verdict.NO: "bold red", Verdict.UNKNOWN: "bold yellow"}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _rate(site: Site) -> str:
    parts = []
    if site.rate is not None:
        parts.append(_num(site.rate))
    if site.recurrent_rate:
        parts.append(f"rec {_num(site.recurrent_rate)}")
    if site.stddev is not None:
        parts.append(f"σ {_num(site.stddev)}")
    return ", ".join(parts) or "?"


def _phase(phase: Phase) -> Text:
    return Text(phase.value, style=_PHASE_STYLE[phase])


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def header(report: InspectReport) -> Text:
    m = report.model
    saved = f"saved by Keras {m.keras_version}" if m.keras_version else "saver unknown"
    weights = "weights" if m.has_weights else "no weights"
    text = Text()
    text.append(m.path, style="bold")
    text.append(f"  {m.format.value}, {saved}, {m.class_name} {m.name!r}, {weights}", style="dim")
    t = report.keras_target
    if t is not None:
        text.append(f"\nverdicts for {t.describe()}", style="dim")
    return text


def _trainable(s: Site) -> str:
    """The trainable cell: yes, no, or "frozen parent" (own flag true, an ancestor frozen)."""
    if s.trainable and not s.effective_trainable:
        return "frozen parent"
    return _yes(s.trainable) if s.trainable else "no"


def sites_table(report: InspectReport) -> FittedTable:
    rows = []
    for s in report.sites:
        trainable = _trainable(s)
        rows.append([
            s.path, s.class_name, s.kind.value, _rate(s), trainable, _yes(s.training_pinned),
            Text("yes" if s.in_fit else "no", style="" if s.in_fit else "dim"),
            _phase(s.in_predict), _phase(s.in_predict_keras2), _phase(s.in_call),
        ])
    return fitted_table(("site", "class", "kind", "rate", "trainable", "pinned", "fit",
                         "predict()", "predict() Keras 2", "model(x)"), rows, wrap=("site",),
                        show_edge=False, pad_edge=False, header_style="bold")


def layer_tree(report: InspectReport) -> Tree:
    """Every layer as a tree; stochastic ones carry their site summary."""
    by_path = {s.path: s for s in report.sites}
    root_entry = report.layers[0]
    tree = Tree(Text(f"{root_entry.path} ({root_entry.class_name})", style="bold"))
    stack: list[tuple[int, Tree]] = [(0, tree)]
    for entry in report.layers[1:]:
        while stack and stack[-1][0] >= entry.depth:
            stack.pop()
        parent = stack[-1][1] if stack else tree
        label = Text(entry.path.rsplit("/", 1)[-1], style="bold" if entry.container else "")
        label.append(f" {entry.class_name}", style="dim")
        if not entry.effective_trainable:
            label.append(" frozen", style="blue")
        site = by_path.get(entry.path)
        if site is not None:
            label.append(f"  {site.kind.value} {_rate(site)}  predict(): ", style="magenta")
            label.append_text(_phase(site.in_predict))
        if entry.path in report.opaque:
            label.append("  opaque: insides not in the config", style="yellow")
        node = parent.add(label)
        stack.append((entry.depth, node))
    return tree


def findings_block(report: InspectReport) -> RenderableType:
    """Findings as a grid, so long messages wrap inside their own column."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for f in report.findings:
        body = Text()
        body.append(f.path or "(model)", style="bold")
        body.append(f": {f.message}")
        if f.hint:
            body.append(f"\n-> {f.hint}", style="dim")
        grid.add_row(Text(f.severity.value, style=_SEV_STYLE[f.severity]), Text(f.code), body)
    return Group(Text("Findings", style="bold"), grid)


def verdict_line(report: InspectReport) -> Text:
    """The direct answer to "is dropout active when I call predict()?"."""
    v = report.predict_deterministic
    text = Text("predict() is deterministic: ")
    text.append(v.value, style=_VERDICT_STYLE[v])
    acting = [s.path for s in report.sites if s.in_predict is Phase.ALWAYS]
    unknown = [s.path for s in report.sites if s.in_predict is Phase.UNKNOWN]
    if acting:
        text.append(f" ({len(acting)} site(s) act at inference: {', '.join(acting[:3])}"
                    f"{', ...' if len(acting) > 3 else ''})")
    elif unknown or report.opaque:
        hidden = unknown + list(report.opaque)
        text.append(f" (unknown behaviour: {', '.join(hidden[:3])}; measure with `dropctl diff "
                    "--custom-objects YOUR_CODE.py`)")
    k2 = report.predict_deterministic_keras2
    if k2 is not v:
        text.append(f"; under tf.keras / Keras 2: {k2.value}", style="yellow")
    call = report.call_deterministic
    text.append("; bare model(x): ")
    text.append(call.value, style=_VERDICT_STYLE[call])
    frozen = [s for s in report.sites if s.in_fit and not s.effective_trainable]
    if frozen:
        text.append(f"; {len(frozen)} site(s) in frozen sub-models still act during fit()")
    return text


def render_inspect(report: InspectReport, *, show_all: bool = False) -> RenderableType:
    """The whole human report."""
    parts: list[RenderableType] = [header(report), Text("")]
    if show_all and report.layers:
        parts.append(layer_tree(report))
        parts.append(Text(""))
    if report.sites:
        parts.append(sites_table(report))
    else:
        parts.append(Text("No stochastic layers (no dropout, noise or RNN/attention dropout).",
                          style="green"))
    parts.append(Text(""))
    if report.findings:
        parts.append(findings_block(report))
        parts.append(Text(""))
    parts.append(verdict_line(report))
    return Group(*parts)


# ---- large reports: plain text, linear ----------------------------------------------------------
PLAIN_ABOVE = 2_000
"""Reports with more rows than this are printed as plain text: a Rich table costs ~1.3 ms per
row and a Rich Text of many lines is quadratic (measured: 316 s for 200,000 lines)."""


def is_large(report: InspectReport, *, show_all: bool = False) -> bool:
    rows = len(report.sites) + len(report.findings) + (len(report.layers) if show_all else 0)
    return rows > PLAIN_ABOVE


def _plain_table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths))]
    lines.extend(fmt.format(*row).rstrip() for row in rows)
    return lines


def render_inspect_plain(report: InspectReport, *, show_all: bool = False) -> str:
    """The whole human report as plain text (no colour), in one linear pass."""
    m = report.model
    saved = f"saved by Keras {m.keras_version}" if m.keras_version else "saver unknown"
    weights = "weights" if m.has_weights else "no weights"
    out = [f"{m.path}  {m.format.value}, {saved}, {m.class_name} {m.name!r}, {weights}"]
    if report.keras_target is not None:
        out.append(f"verdicts for {report.keras_target.describe()}")
    out.append("")
    if show_all and report.layers:
        sites = {s.path: s for s in report.sites}
        for entry in report.layers:
            line = f"{'  ' * entry.depth}{entry.path.rsplit('/', 1)[-1]} {entry.class_name}"
            if not entry.effective_trainable:
                line += " frozen"
            site = sites.get(entry.path)
            if site is not None:
                line += f"  {site.kind.value} {_rate(site)}  predict(): {site.in_predict.value}"
            out.append(line)
        out.append("")
    if report.sites:
        rows = []
        for s in report.sites:
            trainable = _trainable(s)
            rows.append((s.path, s.class_name, s.kind.value, _rate(s), trainable,
                         _yes(s.training_pinned), "yes" if s.in_fit else "no",
                         s.in_predict.value, s.in_predict_keras2.value, s.in_call.value))
        out.extend(_plain_table(("site", "class", "kind", "rate", "trainable", "pinned", "fit",
                                 "predict()", "predict() Keras 2", "model(x)"), rows))
    else:
        out.append("No stochastic layers (no dropout, noise or RNN/attention dropout).")
    out.append("")
    if report.findings:
        out.append("Findings")
        for f in report.findings:
            out.append(f"{f.severity.value} {f.code} {f.path or '(model)'}: {f.message}")
            if f.hint:
                out.append(f"    -> {f.hint}")
        out.append("")
    out.append(verdict_line(report).plain)
    return "\n".join(out) + "\n"
