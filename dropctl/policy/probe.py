"""``check --probe``: the one runtime part of the policy gate.

Loads the model through the runtime's one loader (safe mode on, a recognised Lambda
PermaDropout rebuilt without its bytecode, nothing from the file executed) and runs
``predict()`` twice on the same synthetic inputs (:func:`dropctl.mc.inputs.synthetic_inputs`).
Keras is imported only when :func:`probe_model` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dropctl.errors import UnsupportedModelError

PROBE_BATCH = 2


@dataclass(frozen=True)
class ProbeResult:
    """What running the model said (``--probe``)."""

    predict_deterministic: bool
    """Two ``predict()`` calls on the same synthetic inputs gave identical outputs."""
    max_abs_diff: float
    """Largest absolute difference between the two runs (0.0 when deterministic)."""
    inputs: str
    """The synthetic input shapes, e.g. ``"(2, 28, 28, 1) float32"``."""



def probe_model(path: str, batch: int = PROBE_BATCH) -> ProbeResult:
    """Load ``path`` in safe mode and run ``predict()`` twice on the same synthetic inputs."""
    from dropctl.mc.inputs import flat_outputs, model_input_specs, synthetic_inputs
    from dropctl.runtime.loader import load_model, one_line

    model = load_model(path)
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
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for models it cannot run
        raise UnsupportedModelError(
            f"{path}: cannot probe: predict() failed on synthetic inputs ({one_line(exc)})"
        ) from None
    diff = max((float(np.max(np.abs(a.astype("float64") - b))) if a.size else 0.0)
               for a, b in zip(first, second, strict=True))
    same = all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    shown = ", ".join(f"{a.shape} {a.dtype}" for a in arrays)
    return ProbeResult(same, 0.0 if same else diff, shown)
