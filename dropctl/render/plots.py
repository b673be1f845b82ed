"""``mc-predict --plot``: PNG figures, one per concern. The only module that imports matplotlib.

matplotlib is optional (the ``plot`` extra) and imported inside :func:`_pyplot`, so nothing
else pays for it. The figures take typed results (and label arrays already read by the core)
and are written atomically (never a partial PNG).

* ``FILE.png``: uncertainty histogram and reliability diagram (first output);
* ``FILE-risk-coverage.png``: risk-coverage curves per score (``--labels``, classifiers);
* ``FILE-ood-roc.png``: OOD ROC curves per score (``--ood``/``--synthetic-ood``);
* ``FILE-intervals.png``: interval calibration curve (``--labels``, regression outputs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.fileio import write_atomic
from dropctl.mc.evaluation import Evaluation

__all__ = ["plot_paths", "write_plots"]

_COLOURS = {"max_prob": "#4477aa", "entropy": "#ee6677", "mutual_information": "#228833",
            "variation_ratio": "#ccbb44", "max_prob_deterministic": "#66ccee",
            "entropy_deterministic": "#aa3377", "std": "#4477aa"}
_MAX_POINTS = 2000  # curves are thinned to this many points: the PNG looks the same


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from dropctl.runtime.imports import missing

        raise missing("matplotlib", "--plot") from None
    return plt


def plot_paths(path: Path) -> dict[str, Path]:
    """Where each figure goes for ``--plot path``."""
    stem = path.with_suffix("")
    return {"main": path, "risk_coverage": Path(f"{stem}-risk-coverage.png"),
            "ood_roc": Path(f"{stem}-ood-roc.png"), "intervals": Path(f"{stem}-intervals.png")}


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    finally:
        plt.close(fig)


def _thin(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    n = arrays[0].shape[0]
    if n <= _MAX_POINTS:
        return arrays
    idx = np.unique(np.linspace(0, n - 1, _MAX_POINTS).astype(np.int64))
    return tuple(a[idx] for a in arrays)


def _style(score: str) -> dict[str, Any]:
    return {"color": _COLOURS.get(score, "black"), "lw": 1.6,
            "ls": "--" if score.endswith("_deterministic") else "-"}


def _main_figure(plt: Any, result: Any, labels: Mapping[str, np.ndarray], path: Path) -> None:
    from dropctl.mc.metrics import reliability_bins

    o = result.outputs[0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
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
    _save(plt, fig, path)


def _risk_coverage_figure(plt: Any, ev: Evaluation, path: Path) -> None:
    outs = list(ev.selective.items())
    fig, axes = plt.subplots(1, len(outs), figsize=(6.5 * len(outs), 4.8), squeeze=False)
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
    _save(plt, fig, path)


def _ood_figure(plt: Any, ev: Evaluation, path: Path) -> None:
    outs = list(ev.ood.items())
    fig, axes = plt.subplots(1, len(outs), figsize=(5.5 * len(outs), 5), squeeze=False)
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
    _save(plt, fig, path)


def _interval_figure(plt: Any, ev: Evaluation, path: Path) -> None:
    outs = list(ev.regression.items())
    fig, axes = plt.subplots(1, len(outs), figsize=(5.5 * len(outs), 5), squeeze=False)
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
    _save(plt, fig, path)


def write_plots(result: Any, path: Path, labels: Mapping[str, np.ndarray] | None = None,
                ev: Evaluation | None = None) -> list[Path]:
    """Write every figure the run has data for; returns the paths written."""
    plt = _pyplot()
    paths = plot_paths(path)
    _main_figure(plt, result, labels or {}, paths["main"])
    written = [paths["main"]]
    if ev is not None and ev.selective:
        _risk_coverage_figure(plt, ev, paths["risk_coverage"])
        written.append(paths["risk_coverage"])
    if ev is not None and ev.ood:
        _ood_figure(plt, ev, paths["ood_roc"])
        written.append(paths["ood_roc"])
    if ev is not None and ev.regression:
        _interval_figure(plt, ev, paths["intervals"])
        written.append(paths["intervals"])
    return written
