"""Figures of an ``mc-predict`` run, one per concern. The only module that imports matplotlib.

matplotlib is optional (the ``plot`` extra) and imported inside :func:`_figure_class`, so
nothing else pays for it. Figures are built with the object API (``matplotlib.figure.Figure``):
no pyplot, no ``matplotlib.use``, so drawing never switches the session's backend (a notebook
keeps its inline plots) and figures are never registered with pyplot (nothing to close, no
leak). :func:`mc_figures` returns them (``dropctl.plot_mc``); :func:`write_plots` writes PNGs
atomically (never a partial file) for ``mc-predict --plot``:

* ``main`` ``FILE.png``: uncertainty histogram and reliability diagram (first output);
* ``risk_coverage`` ``FILE-risk-coverage.png``: risk-coverage curves per score (labels,
  classifiers);
* ``ood_roc`` ``FILE-ood-roc.png``: OOD ROC curves per score (``--ood``/``--synthetic-ood``);
* ``intervals`` ``FILE-intervals.png``: interval calibration curve (labels, regression outputs).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.fileio import write_atomic
from dropctl.mc.evaluation import Evaluation

__all__ = ["Plots", "mc_figures", "plot_paths", "write_plots"]

_COLOURS = {"max_prob": "#4477aa", "entropy": "#ee6677", "mutual_information": "#228833",
            "variation_ratio": "#ccbb44", "max_prob_deterministic": "#66ccee",
            "entropy_deterministic": "#aa3377", "std": "#4477aa"}
_MAX_POINTS = 2000  # curves are thinned to this many points: the PNG looks the same
_DPI = 100


def _figure_class(what: str) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        from dropctl.runtime.imports import missing

        raise missing("matplotlib", what) from None
    return Figure


@dataclass(frozen=True)
class Plots(Mapping[str, Any]):
    """The figures of one run by name (``main``, ``risk_coverage``, ``ood_roc``, ``intervals``:
    only those the run has data for). Each value is a ``matplotlib.figure.Figure``; in a
    notebook the object displays as the PNGs themselves, whatever the matplotlib backend."""

    figures: Mapping[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.figures[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.figures)

    def __len__(self) -> int:
        return len(self.figures)

    def png(self, name: str) -> bytes:
        """One figure as PNG bytes."""
        buf = io.BytesIO()
        self.figures[name].savefig(buf, format="png", dpi=_DPI)
        return buf.getvalue()

    def _repr_html_(self) -> str:
        imgs = "".join(
            f'<figure style="margin:0 0 1em 0"><img alt="{html.escape(name)}" '
            f'src="data:image/png;base64,{base64.b64encode(self.png(name)).decode()}"/>'
            f"</figure>" for name in self.figures)
        return f"<div>{imgs}</div>"

    def _repr_png_(self) -> bytes | None:
        return self.png(next(iter(self.figures))) if self.figures else None


def plot_paths(path: Path) -> dict[str, Path]:
    """Where each figure goes for ``--plot path``."""
    stem = path.with_suffix("")
    return {"main": path, "risk_coverage": Path(f"{stem}-risk-coverage.png"),
            "ood_roc": Path(f"{stem}-ood-roc.png"), "intervals": Path(f"{stem}-intervals.png")}


def _save(fig: Any, path: Path) -> None:
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=_DPI))


def _thin(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    n = arrays[0].shape[0]
    if n <= _MAX_POINTS:
        return arrays
    idx = np.unique(np.linspace(0, n - 1, _MAX_POINTS).astype(np.int64))
    return tuple(a[idx] for a in arrays)


def _style(score: str) -> dict[str, Any]:
    return {"color": _COLOURS.get(score, "black"), "lw": 1.6,
            "ls": "--" if score.endswith("_deterministic") else "-"}


def _main_figure(figure: Any, result: Any, labels: Mapping[str, np.ndarray]) -> Any:
    from dropctl.mc.metrics import reliability_bins

    o = result.outputs[0]
    fig = figure(figsize=(10, 4), layout="tight")
    axes = fig.subplots(1, 2)
    values = o.entropy if o.classifier else o.std.reshape(o.std.shape[0], -1).mean(axis=1)
    axes[0].hist(values, bins=30, color="#4477aa")
    axes[0].set(title=f"{o.name}: {'predictive entropy' if o.classifier else 'mean std'}",
                xlabel="nats" if o.classifier else "output units", ylabel="inputs")
    y = labels.get(o.name)
    if o.classifier and y is not None:
        for probs, name in ((o.deterministic, "deterministic"), (o.mean, "MC mean")):
            count, acc, conf = reliability_bins(probs, y)
            m = count > 0
            axes[1].plot(conf[m], acc[m], marker="o", label=name)
        axes[1].plot([0, 1], [0, 1], "k--", lw=1)
        axes[1].set(xlabel="confidence", ylabel="accuracy", title="reliability (15 bins)")
        axes[1].legend()
    else:
        axes[1].axis("off")
        axes[1].text(0.5, 0.5, "reliability diagram needs --labels (classifier)", ha="center")
    return fig


def _risk_coverage_figure(figure: Any, ev: Evaluation) -> Any:
    outs = list(ev.selective.items())
    fig = figure(figsize=(6.5 * len(outs), 4.8), layout="tight")
    axes = fig.subplots(1, len(outs), squeeze=False)
    for ax, (name, scores) in zip(axes[0], outs, strict=True):
        for s in scores:
            cov, risk = _thin(s.coverage, s.risk)
            ax.plot(cov, risk, label=f"{s.score} (AURC {s.aurc:.4f})", **_style(s.score))
        base = scores[0]  # an MC score: its errors are the MC mean's
        n = base.risk.shape[0]
        errors = base.risk[-1] * n
        k = np.arange(1, n + 1)
        oracle = np.maximum(0.0, k - (n - errors)) / k
        cov, opt = _thin(k / n, oracle)
        ax.plot(cov, opt, color="grey", lw=1, ls=":", label="oracle (MC mean's errors last)")
        ax.set(xlabel="coverage (share of inputs answered)", ylabel="risk (error rate)",
               title=f"{name}: risk vs coverage (abstain on the most uncertain)", xlim=(0, 1))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return fig


def _ood_figure(figure: Any, ev: Evaluation) -> Any:
    outs = list(ev.ood.items())
    fig = figure(figsize=(5.5 * len(outs), 5), layout="tight")
    axes = fig.subplots(1, len(outs), squeeze=False)
    for ax, (name, scores) in zip(axes[0], outs, strict=True):
        for s in scores:
            fpr, tpr = _thin(s.fpr, s.tpr)
            ax.plot(fpr, tpr, label=f"{s.score} (AUROC {s.auroc:.3f})", **_style(s.score))
        ax.plot([0, 1], [0, 1], "k:", lw=1, label="chance")
        ax.set(xlabel="in-distribution inputs flagged (FPR)", ylabel="OOD inputs flagged (TPR)",
               title=f"{name}: OOD detection ROC ({ev.ood_inputs} OOD inputs)",
               xlim=(0, 1), ylim=(0, 1.01))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    return fig


def _interval_figure(figure: Any, ev: Evaluation) -> Any:
    outs = list(ev.regression.items())
    fig = figure(figsize=(5.5 * len(outs), 5), layout="tight")
    axes = fig.subplots(1, len(outs), squeeze=False)
    for ax, (name, r) in zip(axes[0], outs, strict=True):
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
        ax.plot(r.levels, r.observed, marker="o", color="#4477aa",
                label=f"MC mean +- z*std (gap {r.interval_calibration_error:.3f})")
        for level, picp in r.picp.items():
            ax.annotate(f"{picp:.0%} at {level:.0%}", (level, picp), textcoords="offset points",
                        xytext=(-10, 10), ha="right", fontsize=8)
        ax.set(xlabel="nominal level", ylabel="observed coverage (PICP)",
               title=f"{name}: interval calibration", xlim=(0, 1), ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return fig


def mc_figures(result: Any, labels: Mapping[str, np.ndarray] | None = None,
               ev: Evaluation | None = None, *, what: str = "dropctl.plot_mc") -> Plots:
    """Every figure the run has data for, by name (see the module docstring)."""
    figure = _figure_class(what)
    figures = {"main": _main_figure(figure, result, labels or {})}
    if ev is not None and ev.selective:
        figures["risk_coverage"] = _risk_coverage_figure(figure, ev)
    if ev is not None and ev.ood:
        figures["ood_roc"] = _ood_figure(figure, ev)
    if ev is not None and ev.regression:
        figures["intervals"] = _interval_figure(figure, ev)
    return Plots(figures)


def write_plots(result: Any, path: Path, labels: Mapping[str, np.ndarray] | None = None,
                ev: Evaluation | None = None) -> list[Path]:
    """Write every figure the run has data for; returns the paths written."""
    paths = plot_paths(path)
    written = []
    for name, fig in mc_figures(result, labels, ev, what="--plot").items():
        _save(fig, paths[name])
        written.append(paths[name])
    return written
