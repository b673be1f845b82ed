"""What building a model from its config would cost, judged before Keras builds anything.

A 9 KB config can declare ``units: 2000000000`` or thousands of layers; Keras allocates every
weight while building, so ``check --probe`` took 62 s and 6.8 GB on such a file. Here the
config is walked statically (no Keras) and refused when it has more layers than
:data:`MAX_LOAD_LAYERS`, a size parameter over :data:`MAX_DIM`, or an estimated parameter
count whose float32 bytes exceed what the file's own weights could justify:
``max(MIN_BUILD_BYTES, BUILD_FACTOR x declared weight bytes)``. Weights are in the file and
checked against its size before this (:mod:`dropctl.h5read`), so building memory is bounded
by the file size times a constant.
"""

from __future__ import annotations

import math
from typing import Any

from dropctl.errors import UnsupportedModelError

MAX_LOAD_LAYERS = 3_000
"""Most layers a loading command builds (EfficientNetB7: 813; a 5,000-layer bomb took 62 s)."""
MAX_DIM = 1 << 24
"""Largest size parameter (units, filters, vocabulary...) accepted: 16.7 million."""
MIN_BUILD_BYTES = 256 * 1024 * 1024
"""Parameter bytes any model may need to build, whatever its file declares."""
BUILD_FACTOR = 8
"""How many times its declared weight bytes a model's estimated parameters may need."""

_SIZE_KEYS = ("units", "filters", "output_dim", "input_dim", "embedding_dim", "hidden_dim",
              "intermediate_dim", "vocabulary_size", "num_heads", "key_dim", "value_dim",
              "depth_multiplier", "num_classes", "n_classes")
_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM", "Cell")


def _size(cfg: dict[str, Any], key: str) -> int | None:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return MAX_DIM + 1
    return int(v) if v > 0 else None


def _last_dim(cfg: dict[str, Any]) -> int | None:
    for key in ("batch_shape", "batch_input_shape", "input_shape", "shape"):
        shape = cfg.get(key)
        if isinstance(shape, list) and shape:
            last = shape[-1]
            if isinstance(last, int) and not isinstance(last, bool) and last > 0:
                return last
    return None


def estimate(layers: list[Any]) -> tuple[int, str | None]:
    """(estimated parameter count, the first size parameter over :data:`MAX_DIM` or None).

    ``layers`` are the walker's :class:`~dropctl.sites.Layer` objects in walk order. Each layer's
    input width is taken as the previous layer's output width (exact for chains, a rough
    but bounded guess for branches: the point is orders of magnitude, not exact counts).
    """
    width = 1
    total = 0
    for layer in layers:
        cfg = layer.config
        dim = _last_dim(cfg)
        if dim is not None:
            width = dim
        sizes = {k: s for k in _SIZE_KEYS if (s := _size(cfg, k)) is not None}
        for key, value in sizes.items():
            if value > MAX_DIM:
                return total, f"{layer.path}: {key} {value:,}"
        kernel = cfg.get("kernel_size")
        k = 1
        if isinstance(kernel, list):
            for d in kernel:
                if isinstance(d, int) and not isinstance(d, bool) and d > 0:
                    k *= min(d, MAX_DIM)
        elif isinstance(kernel, int) and not isinstance(kernel, bool) and kernel > 0:
            k = min(kernel, MAX_DIM)
        if "input_dim" in sizes and "output_dim" in sizes:
            total += sizes["input_dim"] * sizes["output_dim"]
            width = sizes["output_dim"]
        elif "units" in sizes:
            units = sizes["units"]
            gates = 4 if any(r in layer.class_name for r in _RECURRENT) else 1
            total += gates * units * (width + (units if gates > 1 else 0)) * k
            width = units
        elif "filters" in sizes:
            total += sizes["filters"] * width * k
            width = sizes["filters"]
        elif "num_heads" in sizes:
            heads = sizes["num_heads"]
            kd = sizes.get("key_dim", width)
            total += 4 * heads * kd * width
    return total, None


def check_build_budget(path: Any, layers: list[Any], declared_weight_bytes: int) -> None:
    """Raise :class:`UnsupportedModelError` when building ``layers`` could exhaust memory."""
    if len(layers) > MAX_LOAD_LAYERS:
        raise UnsupportedModelError(
            f"{path}: the model has {len(layers):,} layers; dropctl builds at most "
            f"{MAX_LOAD_LAYERS:,} (config bomb?)")
    params, too_big = estimate(layers)
    if too_big is not None:
        raise UnsupportedModelError(
            f"{path}: {too_big} is over the {MAX_DIM:,} limit; refusing to build it "
            "(config bomb?)")
    limit = max(MIN_BUILD_BYTES, BUILD_FACTOR * declared_weight_bytes)
    if params * 4 > limit:
        raise UnsupportedModelError(
            f"{path}: building the model would allocate about {params * 4:,} bytes of weights, "
            f"but the file stores {declared_weight_bytes:,}; refusing to build it (config bomb?)")
