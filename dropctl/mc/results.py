"""The result vocabulary of a Monte Carlo run: sites, per-output statistics, the run (the report
of the whole use case, :class:`dropctl.mc.run.MCReport`, is beside the code that builds it).

Frozen dataclasses only, no TensorFlow: :mod:`dropctl.mc.engine` fills them,
:mod:`dropctl.mc.stats` computes :class:`OutputStats` from streamed sums, renderers format them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dropctl.display import Displayable
from dropctl.reader.report import SiteKind

if TYPE_CHECKING:
    pass

__all__ = ["MCResult", "OutputStats", "SiteUse"]


@dataclass(frozen=True)
class SiteUse:
    """A stochastic site and how the engine runs it."""

    path: str
    """Layer path from the outermost model (as ``dropctl inspect`` prints it)."""
    class_name: str
    """Keras class of the layer."""
    kind: SiteKind
    """What randomness it injects."""
    rate: float
    """Requested rate (or noise stddev)."""
    effective_rate: float | None
    """Rate of the engine's own masks (Dropout/SpatialDropout), None when Keras draws them."""
    selected: bool
    """Switched on in the Monte Carlo passes (``--sites``)."""
    always_on: bool
    """A dropctl always-on layer (acts under ``predict()`` too)."""
    note: str | None = None
    """Why a site listed by ``inspect`` is not switched on although selected (None: it is)."""
    dead: bool = False
    """Built but never called in any mode: Keras does not call it in ``predict()`` and the
    layer holding it has no ``training`` to call it differently in ``fit()`` (keras_hub 0.32
    GemmaDecoderBlock builds a ``feedforward_dropout`` its ``call`` never uses). It draws no
    randomness anywhere, so the statistics miss nothing (not in :attr:`MCResult.unswitched`)."""

    @property
    def switched(self) -> bool:
        """Selected and really switched on in the Monte Carlo passes."""
        return self.selected and self.note is None


@dataclass(frozen=True)
class OutputStats:
    """Monte Carlo statistics of one model output (arrays have the inputs on axis 0)."""

    name: str
    """Output name (the output layer's name); prefixes ``.npz`` keys for multi-output models."""
    deterministic: np.ndarray
    """Prediction with every site off (BatchNormalization etc. in inference mode)."""
    mean: np.ndarray
    """Mean over the T stochastic passes."""
    std: np.ndarray
    """Standard deviation over the passes (ddof=0); exactly 0 where no site acts."""
    stderr: np.ndarray
    """Monte Carlo standard error of ``mean``: sample std (ddof=1) / sqrt(T)."""
    classifier: bool
    """Output rows are probabilities (non-negative, summing to 1): class metrics below apply."""
    entropy: np.ndarray | None = None
    """Predictive entropy of ``mean`` (nats), classifiers only."""
    mutual_information: np.ndarray | None = None
    """BALD: entropy of the mean minus mean per-pass entropy, classifiers only."""
    variation_ratio: np.ndarray | None = None
    """1 - share of passes voting for the modal class, classifiers only."""
    flipped: np.ndarray | None = None
    """True where the argmax class changed across passes, classifiers only."""
    samples: np.ndarray | None = None
    """All passes [T, N, ...] (float32) with ``save_samples``; else None."""


@dataclass(frozen=True)
class MCResult(Displayable):
    """Result of :func:`dropctl.mc.engine.mc_predict`."""

    model_name: str
    """The model's name."""
    n_inputs: int
    """Number of inputs N."""
    samples_requested: int
    """T asked for (``--samples``)."""
    passes: int
    """Stochastic passes actually made (< T when ``until_stable`` stopped early)."""
    seed: int
    """Seed of the run."""
    sites: tuple[SiteUse, ...]
    """Every stochastic site of the model and whether it was switched on."""
    outputs: tuple[OutputStats, ...]
    """One entry per model output."""
    until_stable: float | None
    """The tolerance of ``--until-stable``, if given."""
    stable: bool | None
    """Whether the largest standard error fell below ``until_stable`` (None without it)."""
    max_stderr: float
    """Largest Monte Carlo standard error over all outputs and elements."""
    rows_per_chunk: int
    """Rows (input copies) per compiled forward pass."""
    seconds: float
    """Wall time of the passes (deterministic pass included, loading excluded)."""
    rescues: tuple[str, ...] = ()
    """What the loader rewrote to make the file loadable (empty for a clean file)."""
    missing_sites: tuple[str, ...] = ()
    """Sites ``dropctl inspect`` lists in the file that the loaded model has no switchable
    layer for: their randomness is not in these statistics (empty for a ``keras.Model``)."""

    @property
    def stochastic(self) -> bool:
        """At least one site was switched on."""
        return any(s.switched for s in self.sites)

    @property
    def unswitched(self) -> tuple[str, ...]:
        """Paths of sites that could not be switched on (their randomness is unmeasured):
        runtime sites with nothing to switch and sites inspect lists that the model lacks."""
        return tuple(dict.fromkeys(
            [s.path for s in self.sites if s.selected and not s.switched and not s.dead]
            + list(self.missing_sites)))

    @property
    def complete(self) -> bool:
        """Every stochastic site the file declares was switched on (or deselected)."""
        return not self.unswitched
