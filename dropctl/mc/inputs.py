"""Input arrays for ``mc-predict``/``diff``: reading .npy/.npz/.csv, synthetic draws, labels.

Everything is checked against the model's input spec before TensorFlow sees it: shape (every
known dimension after the batch one), dtype kind (token ids must be integers), finiteness and a
common batch size. Problems raise :class:`dropctl.errors.InputDataError` with one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.errors import InputDataError, UnsupportedModelError

__all__ = ["InputSpec", "check_inputs", "read_inputs", "read_labels", "synthetic_inputs"]

MAX_INPUT_BYTES = 4 * 2**30


@dataclass(frozen=True)
class InputSpec:
    """What one model input expects."""

    name: str
    """Input name (keys of an .npz for multi-input models)."""
    shape: tuple[int | None, ...]
    """Shape including the batch dimension (None where free)."""
    dtype: str
    """Keras dtype name (``float32``, ``int32``...)."""


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"cannot read {path}: {' '.join(str(exc).split())}") from None


def read_inputs(path: str | Path, specs: list[InputSpec]) -> list[np.ndarray]:
    """Arrays for ``specs`` from a .npy (one input), .npz (by input name, or one array) or .csv."""
    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"input file {p} does not exist")
    if p.stat().st_size > MAX_INPUT_BYTES:
        raise InputDataError(f"input file {p} is larger than {MAX_INPUT_BYTES >> 30} GiB")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        arrays = [_load_npy(p)]
    elif suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                stored = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise InputDataError(f"cannot read {p}: {' '.join(str(exc).split())}") from None
        if len(specs) == 1 and len(stored) == 1:
            arrays = list(stored.values())
        else:
            missing = [s.name for s in specs if s.name not in stored]
            if missing:
                raise InputDataError(
                    f"{p} has arrays {sorted(stored)}; the model needs {[s.name for s in specs]} "
                    f"(missing {missing})")
            arrays = [stored[s.name] for s in specs]
    elif suffix == ".csv":
        try:
            data = np.loadtxt(p, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError:
            try:  # one header line
                data = np.loadtxt(p, delimiter=",", dtype=np.float64, ndmin=2, skiprows=1)
            except ValueError as exc:
                raise InputDataError(f"cannot parse {p} as numeric CSV: {exc}") from None
        if len(specs) != 1:
            raise InputDataError(f"{p}: a CSV holds one input; the model has {len(specs)}")
        flat = int(np.prod([d for d in specs[0].shape[1:] if d is not None] or [0]))
        if None not in specs[0].shape[1:] and data.shape[1] == flat:
            data = data.reshape((data.shape[0], *specs[0].shape[1:]))
        arrays = [data]
    else:
        raise InputDataError(f"unsupported input format '{suffix}' (use .npy, .npz or .csv)")
    return check_inputs(arrays, specs, str(p))


def check_inputs(arrays: list[np.ndarray], specs: list[InputSpec], source: str) -> list[np.ndarray]:
    """Validate and cast ``arrays`` for ``specs``; one clear sentence per problem."""
    if len(arrays) != len(specs):
        raise InputDataError(f"{source}: {len(arrays)} input array(s) given, the model takes "
                             f"{len(specs)} ({', '.join(s.name for s in specs)})")
    out = []
    for a, spec in zip(arrays, specs, strict=True):
        a = np.asarray(a)
        want = spec.shape
        if a.ndim != len(want) or any(w is not None and w != h
                                      for w, h in zip(want[1:], a.shape[1:], strict=True)):
            shown = "(N, " + ", ".join("?" if d is None else str(d) for d in want[1:]) + ")"
            raise InputDataError(f"{source}: input '{spec.name}' has shape {a.shape}; "
                                 f"the model expects {shown}")
        if a.shape[0] == 0:
            raise InputDataError(f"{source}: input '{spec.name}' holds no samples")
        if a.dtype.kind not in "biuf":
            raise InputDataError(f"{source}: input '{spec.name}' has dtype {a.dtype}; "
                                 "expected numbers")
        if "int" in spec.dtype:
            if a.dtype.kind == "f" and not np.all(np.isfinite(a) & (a == np.round(a))):
                raise InputDataError(f"{source}: input '{spec.name}' must hold integers "
                                     f"(token ids), got non-integer values")
        elif a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            bad = int(np.count_nonzero(~np.isfinite(a)))
            raise InputDataError(f"{source}: input '{spec.name}' contains {bad} NaN/inf value(s)")
        out.append(a.astype(spec.dtype if spec.dtype != "bool" else np.bool_, copy=False))
    n = {a.shape[0] for a in out}
    if len(n) > 1:
        raise InputDataError(f"{source}: inputs have different numbers of samples {sorted(n)}")
    return out


def synthetic_inputs(specs: list[InputSpec], n: int, seed: int) -> list[np.ndarray]:
    """``n`` seeded inputs per spec: standard normal floats, integer ids in [0, 2) (any vocab).

    The one generator of made-up inputs: ``--synthetic``, ``check --probe`` and ``convert``'s
    verification batch all use it. Unknown dimensions become 8; ids 0 and 1 are valid for any
    Embedding or lookup.
    """
    if n < 1:
        raise InputDataError("--synthetic needs N >= 1")
    rng = np.random.default_rng([seed, 0x5EED])
    out = []
    for spec in specs:
        shape = (n, *(8 if d is None else d for d in spec.shape[1:]))
        if "int" in spec.dtype:
            out.append(rng.integers(0, 2, size=shape).astype(spec.dtype))
        else:
            out.append(rng.standard_normal(shape).astype(spec.dtype))
    return out


def read_labels(path: str | Path, n: int, classes: int) -> np.ndarray:
    """Integer labels [n] from .npy/.csv (class ids, or one-hot rows of width ``classes``)."""
    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"labels file {p} does not exist")
    if p.suffix.lower() == ".csv":
        try:
            y = np.loadtxt(p, delimiter=",", ndmin=1)
        except ValueError as exc:
            raise InputDataError(f"cannot parse {p} as numeric CSV: {exc}") from None
    else:
        y = _load_npy(p)
    if y.ndim == 2 and y.shape[1] == classes:
        y = y.argmax(axis=1)
    y = np.asarray(y).reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise InputDataError(f"{p}: labels have shape {y.shape}; expected ({n},) class ids")
    if y.shape[0] != n:
        raise InputDataError(f"{p}: {y.shape[0]} labels for {n} inputs")
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or y.min() < 0 or (
            y.max() >= classes):
        raise InputDataError(f"{p}: labels must be class ids in [0, {classes})")
    return y.astype(np.int64)


def flat_outputs(out: Any) -> list[np.ndarray]:
    """A model's output(s) as a list of arrays, dict outputs in sorted key order.

    The order matches ``keras.tree.flatten`` (what the Monte Carlo engine sees), so a
    multi-output model's outputs line up across ``predict()``, ``model(x)`` and the engine.
    """
    from dropctl.runtime.backend import to_numpy  # torch tensors need a detach first

    if isinstance(out, dict):
        return [to_numpy(out[k]) for k in sorted(out)]
    if isinstance(out, list | tuple):
        return [to_numpy(o) for o in out]
    return [to_numpy(out)]


def model_input_specs(model: Any) -> list[InputSpec]:
    """:class:`dropctl.mc.inputs.InputSpec` for every model input."""
    try:
        tensors = list(model.inputs)
    except (AttributeError, ValueError):
        tensors = []
    if not tensors:
        raise UnsupportedModelError(f"model '{model.name}' declares no inputs (subclassed and "
                                    "never built?); dropctl cannot feed it")
    return [InputSpec(str(getattr(t, "name", f"input_{i}")).split(":")[0],
                      tuple(None if d is None else int(d) for d in t.shape),
                      str(getattr(t.dtype, "name", t.dtype)))
            for i, t in enumerate(tensors)]
