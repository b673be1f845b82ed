"""Figures (matplotlib, the ``plot`` extra): the only module that imports matplotlib.

Each function takes typed results (and label arrays already read by the core), draws one
figure with the Agg backend and writes it atomically as PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dropctl.fileio import write_atomic


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from dropctl.runtime.imports import missing

        raise missing("matplotlib", "--plot") from None
    return plt


def mc_figure(result: Any, path: Path, labels: dict[str, np.ndarray] | None) -> None:
    """Uncertainty histogram and (with labels) the reliability diagram of the first output."""
    from dropctl.mc.metrics import reliability_bins

    plt = _pyplot()
    o = result.outputs[0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    values = o.entropy if o.classifier else o.std.reshape(o.std.shape[0], -1).mean(axis=1)
    axes[0].hist(values, bins=30, color="#4477aa")
    axes[0].set_title(f"{o.name}: {'predictive entropy' if o.classifier else 'mean std'}")
    y = (labels or {}).get(o.name)
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
        axes[1].text(0.5, 0.5, "reliability diagram needs --labels", ha="center")
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    finally:
        plt.close(fig)
