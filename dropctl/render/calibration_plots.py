"""Calibration figures (``calibrate --plot``, ``mc-predict --calibration --labels --plot``).

Drawn through matplotlib's object API (:class:`matplotlib.figure.Figure` with the Agg canvas
it creates itself): no ``pyplot``, no ``matplotlib.use``, so a notebook's backend is never
switched. One PNG per output, written atomically:

* reliability diagram before/after (15 equal-width bins; classifiers) or the interval widths
  of the naive, absolute and normalised intervals (regressors);
* empirical coverage of the conformal sets/intervals against the nominal level, at every level
  the calibration file keeps;
* histogram of the set sizes / interval widths.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.fileio import write_atomic
from dropctl.mc.calibration_check import ClassifierCheck, RegressorCheck

__all__ = ["calibration_plot_path", "write_calibration_plots"]


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # the message of dropctl.runtime.imports.missing (render is static)
        from dropctl.errors import MissingDependencyError

        raise MissingDependencyError("--plot needs matplotlib, which is not installed: "
                                     "pip install 'dropctl[plot]'") from None
    return Figure(figsize=(width, height))


def calibration_plot_path(path: Path) -> Path:
    """``FILE-calibration.png`` beside ``mc-predict --plot FILE.png``."""
    return Path(f"{path.with_suffix('')}-calibration.png")


def _reliability(ax: Any, c: ClassifierCheck) -> None:
    from dropctl.mc.metrics import reliability_bins

    for probs, name, score in ((c.probs_before, "MC mean", c.before),
                               (c.probs_after, "calibrated", c.after)):
        count, acc, conf = reliability_bins(probs, c.labels)
        m = count > 0
        ax.plot(conf[m], acc[m], marker="o", label=f"{name} (ECE {score.ece:.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="confidence", ylabel="accuracy", title=f"{c.output}: reliability (15 bins)",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8, loc="upper left")


def _coverage(ax: Any, c: ClassifierCheck | RegressorCheck) -> None:
    levels = np.array(sorted(c.curve))
    observed = np.array([c.curve[lv] for lv in levels])
    ax.plot([0.4, 1], [0.4, 1], "k--", lw=1, label="nominal")
    ax.plot(levels, observed, marker="o", color="#228833", label="conformal")
    ax.set(xlabel="nominal coverage 1 - alpha", ylabel="empirical coverage",
           title=f"{c.output}: coverage vs nominal", xlim=(0.45, 1), ylim=(0.4, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")


def _sizes(ax: Any, c: ClassifierCheck | RegressorCheck) -> None:
    if isinstance(c, ClassifierCheck):
        sizes = c.set_sizes.astype(np.int64)
        ax.hist(sizes, bins=np.arange(-0.5, max(int(sizes.max(initial=0)), 1) + 1.5),
                color="#4477aa")
        ax.set(xlabel="set size (classes)", ylabel="inputs",
               title=f"{c.coverage:.0%} sets: coverage {c.set_coverage:.3f}, "
                     f"mean size {c.mean_set_size:.2f}")
    else:
        finite = c.widths[np.isfinite(c.widths)]
        ax.hist(finite, bins=30, color="#4477aa")
        ax.axvline(c.absolute_width, color="#ee6677", ls="--",
                   label=f"|y-mean| baseline ({c.absolute_coverage:.3f})")
        ax.set(xlabel="interval width", ylabel="targets",
               title=f"{c.coverage:.0%} intervals: coverage {c.interval_coverage:.3f}")
        ax.legend(fontsize=8)


def _regression_summary(ax: Any, c: RegressorCheck) -> None:
    names = ["mean +- z std", "|y-mean| conformal", "|y-mean|/std conformal"]
    cover = [c.naive_coverage, c.absolute_coverage, c.interval_coverage]
    ax.bar(names, cover, color=["#ee6677", "#ccbb44", "#228833"])
    ax.axhline(c.coverage, color="black", ls="--", lw=1, label=f"nominal {c.coverage:g}")
    ax.set(ylabel="empirical coverage", ylim=(0, 1.05),
           title=f"{c.output}: NLL {c.nll_before:.3g} -> {c.nll_after:.3g} (std scaled)")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8, loc="lower right")


def write_calibration_plots(checks: tuple[ClassifierCheck | RegressorCheck, ...], path: Path,
                            data: str) -> list[Path]:
    """One 3-panel PNG per output (``FILE.png``, then ``FILE-<output>.png``); the paths."""
    written = []
    for k, c in enumerate(checks):
        target = path if k == 0 else Path(f"{path.with_suffix('')}-{c.output}.png")
        fig = _figure(15, 4.2)
        axes = fig.subplots(1, 3)
        if isinstance(c, ClassifierCheck):
            _reliability(axes[0], c)
        else:
            _regression_summary(axes[0], c)
        _coverage(axes[1], c)
        _sizes(axes[2], c)
        fig.suptitle(f"calibration on the {data}", fontsize=10)
        fig.tight_layout()
        write_atomic(target, functools.partial(fig.savefig, format="png", dpi=100))
        written.append(target)
    return written
