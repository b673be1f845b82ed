"""``check --probe``: the one runtime part of the policy gate.

Loads the model through the runtime's one loader (safe mode on, a recognised Lambda
PermaDropout rebuilt without its bytecode, nothing from the file executed) and

* runs ``predict()`` twice on the same synthetic inputs
  (:func:`dropctl.mc.inputs.synthetic_inputs`): what the deployed model does;
* runs a few Monte Carlo passes through ``mc-predict``'s engine (the same site switching:
  every site ``inspect`` lists on, BatchNormalization and everything else in inference mode),
  which names the sites the loaded model cannot switch on.

A model whose two ``predict()`` calls agree is called deterministic only when every listed
site was switched on in those passes; otherwise its verdict is unknown and the unswitched
sites are named (a site the runtime cannot reach is a site the probe did not measure).
Keras is imported only when :func:`probe_model` runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dropctl.errors import UnsupportedModelError

PROBE_BATCH = 2
PROBE_PASSES = 4
"""Monte Carlo passes the probe starts with (enough to see spread where any site drops
elementwise; the verdict is predict()'s)."""
PROBE_MAX_PASSES = 256
"""Most passes the probe grows to (:func:`_passes_needed`) before it says no spread was seen."""
PROBE_MISS = 1e-9
"""The chance the probe may leave of seeing no spread from a site that drops."""


@dataclass(frozen=True)
class ProbeResult:
    """What running the model said (``--probe``)."""

    predict_deterministic: bool | None
    """Two ``predict()`` calls on the same synthetic inputs gave identical outputs (True) or
    not (False); None when they agreed but a listed site could not be switched on (see
    ``unswitched``): its behaviour was not measured."""
    max_abs_diff: float
    """Largest absolute difference between the two runs (0.0 when identical)."""
    inputs: str
    """The synthetic input shapes, e.g. ``"(2, 28, 28, 1) float32"``."""
    mc_stochastic: bool = False
    """With the listed sites switched on as ``mc-predict`` does, the outputs varied."""
    unswitched: tuple[str, ...] = ()
    """Sites ``inspect`` lists that the loaded model could not switch on (as mc-predict's
    ``unswitched``)."""

    @property
    def verdict(self) -> str:
        """``deterministic``/``stochastic``, or ``unknown`` naming the sites not switched on."""
        if self.predict_deterministic is None:
            return f"unknown (not switched on: {', '.join(self.unswitched)})"
        return "deterministic" if self.predict_deterministic else "stochastic"


def check_custom_objects(sources: Sequence[str]) -> None:
    """Import the ``--custom-objects`` sources once, so a bad one is one error before any
    model is probed (each probing worker imports them again)."""
    from dropctl.runtime.custom import import_custom_objects

    import_custom_objects(sources)


def probe_model(path: str, batch: int = PROBE_BATCH,
                custom_objects: Sequence[str] = ()) -> ProbeResult:
    """Load ``path`` in safe mode, run ``predict()`` twice and a few Monte Carlo passes on the
    same synthetic inputs. ``custom_objects``: the user's modules or ``.py`` files to import
    first (``--custom-objects``; this runs their code)."""
    from dropctl.mc.engine import mc_predict
    from dropctl.mc.inputs import flat_outputs, inputs_rejected, model_input_specs, synthetic_inputs
    from dropctl.runtime.loader import load

    loaded = load(path, custom_objects=custom_objects)
    model = loaded.model
    try:
        specs = model_input_specs(model)
    except UnsupportedModelError:
        raise UnsupportedModelError(f"{path}: cannot probe: the model declares no inputs") from None
    arrays = synthetic_inputs(specs, batch, 0)
    from dropctl.runtime import compat

    x = compat.as_model_inputs(model, arrays)  # dict-input models (keras_hub) take a dict
    try:
        first = flat_outputs(model.predict(x, verbose=0))
        second = flat_outputs(model.predict(x, verbose=0))
        mc = mc_predict(loaded, arrays, samples=PROBE_PASSES, seed=0)
        passes, needed = PROBE_PASSES, _passes_needed(mc, batch)
        while not _spread(mc) and passes < needed:
            passes = min(4 * passes, needed)
            mc = mc_predict(loaded, arrays, samples=passes, seed=0)
    except UnsupportedModelError:
        raise
    except Exception as exc:  # Keras raises many types for models it cannot run
        if isinstance(exc, MemoryError):
            raise
        why = inputs_rejected(model, arrays, exc, None,
                              "check without --probe reads the file statically")
        raise UnsupportedModelError(f"{path}: cannot probe: {why}") from None
    diff = max((float(np.max(np.abs(a.astype("float64") - b))) if a.size else 0.0)
               for a, b in zip(first, second, strict=True))
    same = all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    shown = ", ".join(f"{a.shape} {a.dtype}" for a in arrays)
    spread = _spread(mc)
    verdict: bool | None = False if not same else (None if mc.unswitched else True)
    return ProbeResult(verdict, 0.0 if same else diff, shown, spread, mc.unswitched)


def _spread(mc: Any) -> bool:
    return any(float(np.max(o.std)) > 0 for o in mc.outputs if o.std.size)


def _passes_needed(mc: Any, batch: int) -> int:
    """Passes after which a run with no spread is, with chance below :data:`PROBE_MISS`, not
    bad luck: a drop path (one draw per row) at rate r keeps all ``batch`` rows of T passes
    with chance (1 - r) ** (batch * T), 0.17 for keras_hub MobileNetV5's one active drop path
    (0.2) over the 4 first passes of 2 rows. The smallest switched rate decides, capped at
    :data:`PROBE_MAX_PASSES`."""
    rates = [s.rate for s in mc.sites if s.switched and 0 < s.rate < 1]
    if not rates:
        return PROBE_PASSES
    keep = math.log1p(-min(rates))
    return min(PROBE_MAX_PASSES, max(PROBE_PASSES, math.ceil(math.log(PROBE_MISS) /
                                                             (batch * keep))))
