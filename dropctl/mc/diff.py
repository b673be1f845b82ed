"""``dropctl diff``: deterministic versus stochastic behaviour of one model, measured.

Answers "why do my predictions change?" by running the model the ways users run it:
``predict()`` twice (bitwise compared: is inference deterministic under the installed Keras?),
a bare ``model(x)`` twice, then T Monte Carlo passes with :mod:`dropctl.mc.engine`. When ``predict()``
is stochastic, each site is left alone (Keras' native behaviour) with every other site switched
off, and ``predict()`` is run twice again: the sites that still make it differ are the culprits.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dropctl.display import Displayable
from dropctl.errors import DropctlError
from dropctl.mc.engine import Engine, mc_predict
from dropctl.mc.inputs import flat_outputs, inputs_rejected
from dropctl.mc.resolve import open_model, resolve_inputs
from dropctl.mc.results import MCResult, SiteUse
from dropctl.runtime import compat, keras_module

__all__ = ["DiffResult", "diff"]


@dataclass(frozen=True)
class DiffResult(Displayable):
    """What :func:`diff` measured."""

    model_name: str
    """The model's name."""
    n_inputs: int
    """Number of inputs used."""
    samples: int
    """Monte Carlo passes T."""
    seed: int
    """Seed of the run."""
    keras_version: str
    """The Keras that ran the model (the answer depends on it)."""
    predict_deterministic: bool
    """Two ``predict()`` calls gave bitwise identical outputs."""
    predict_max_diff: float
    """Largest |difference| between the two ``predict()`` calls."""
    call_deterministic: bool
    """Two bare ``model(x)`` calls gave bitwise identical outputs."""
    call_max_diff: float
    """Largest |difference| between the two ``model(x)`` calls."""
    max_abs_det_vs_mean: float
    """Largest |deterministic - MC mean| over all outputs and elements."""
    mean_abs_det_vs_mean: float
    """Mean |deterministic - MC mean|."""
    mean_std: float
    """Mean standard deviation across the passes."""
    argmax_agreement: float | None
    """Share of inputs whose deterministic argmax equals the MC-mean argmax (classifiers)."""
    flip_share: float | None
    """Share of inputs whose argmax class changes across passes (classifiers)."""
    sites: tuple[SiteUse, ...]
    """Every stochastic site and its runtime parameters."""
    predict_culprits: tuple[str, ...]
    """Sites that alone keep ``predict()`` stochastic (empty when it is deterministic)."""
    mc: MCResult
    """The Monte Carlo run behind the numbers."""

    @property
    def mc_stochastic(self) -> bool:
        """The Monte Carlo passes differ from each other somewhere."""
        return any(float(np.max(o.std, initial=0.0)) > 0 for o in self.mc.outputs)


def _compare(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[bool, float]:
    same = all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    diff = max((float(np.max(np.abs(x.astype(np.float64) - y), initial=0.0))
                for x, y in zip(a, b, strict=True)), default=0.0)
    return same, diff


def diff(model_or_path: Any, inputs: Any = None, *, samples: int = 50, seed: int = 0,
         sites: str | None = None, synthetic: int | None = None,
         batch_size: int | None = None,
         progress: Callable[[int, int], None] | None = None,
         config: str | os.PathLike[str] | None = None,
         custom_objects: Sequence[str] = ()) -> DiffResult:
    """Measure deterministic vs stochastic behaviour (see the module docstring).

    ``model_or_path`` and ``inputs`` as for :func:`mc_predict` (``inputs`` may be a file);
    ``config``/``custom_objects`` as for :func:`dropctl.runtime.loader.load` when it is a
    path. ``progress(done, total)`` follows the Monte Carlo passes, as in :func:`mc_predict`.
    """
    keras = keras_module("dropctl diff")
    opened = open_model(model_or_path, config=config, custom_objects=custom_objects)
    model = opened.model
    arrays = resolve_inputs(model, inputs, synthetic, seed)
    x = compat.as_model_inputs(model, arrays)
    keras.utils.set_random_seed(seed)
    with warnings.catch_warnings():  # Keras warns when a 1-input model gets a bare array
        warnings.simplefilter("ignore")
        try:
            p1 = flat_outputs(model.predict(x, verbose=0))
        except Exception as exc:  # Keras and its backends raise any type for inputs a model cannot take
            if isinstance(exc, DropctlError | MemoryError):
                raise
            raise inputs_rejected(model, arrays, exc, inputs) from None
        p2 = flat_outputs(model.predict(x, verbose=0))
        c1, c2 = flat_outputs(model(x)), flat_outputs(model(x))
    predict_same, predict_diff = _compare(p1, p2)
    call_same, call_diff = _compare(c1, c2)
    mc = mc_predict(opened, arrays, samples=samples, seed=seed, sites=sites,
                    batch_size=batch_size, progress=progress)
    culprits: list[str] = []
    if not predict_same:
        with Engine(model) as engine:
            for site in engine.sites:
                engine.set_modes("off", {site.path: "native"})
                a, b = flat_outputs(model.predict(x, verbose=0)), flat_outputs(model.predict(x, verbose=0))
                if not _compare(a, b)[0]:
                    culprits.append(site.path)
    gaps = [np.abs(o.deterministic.astype(np.float64) - o.mean) for o in mc.outputs]
    classifiers = [o for o in mc.outputs if o.classifier]
    agreement = flips = None
    if classifiers:
        agreement = float(np.mean(np.concatenate(
            [o.deterministic.argmax(-1) == o.mean.argmax(-1) for o in classifiers])))
        flips = float(np.mean(np.concatenate([o.flipped for o in classifiers])))
    return DiffResult(
        model_name=str(model.name), n_inputs=arrays[0].shape[0], samples=mc.passes, seed=seed,
        keras_version=keras.__version__,
        predict_deterministic=predict_same, predict_max_diff=predict_diff,
        call_deterministic=call_same, call_max_diff=call_diff,
        max_abs_det_vs_mean=max((float(g.max(initial=0.0)) for g in gaps), default=0.0),
        mean_abs_det_vs_mean=float(np.mean(np.concatenate([g.ravel() for g in gaps]))),
        mean_std=float(np.mean(np.concatenate([o.std.ravel() for o in mc.outputs]))),
        argmax_agreement=agreement, flip_share=flips, sites=mc.sites,
        predict_culprits=tuple(culprits), mc=mc,
    )
