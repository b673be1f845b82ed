"""Input arrays for ``mc-predict``/``diff``: reading .npy/.npz/.csv, synthetic draws, labels.

Everything is checked against the model's input spec before TensorFlow sees it: shape (every
known dimension after the batch one), dtype kind (token ids must be integers), finiteness and a
common batch size. Problems raise :class:`dropctl.errors.InputDataError` with one sentence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.errors import DropctlError, InputDataError, UnsupportedModelError, one_line

__all__ = ["InputSpec", "check_inputs", "read_inputs", "read_labels", "read_targets",
           "synthetic_inputs"]

MAX_INPUT_BYTES = 4 * 2**30
DEFAULT_FREE = 8
"""What a synthetic draw gives a free dimension when the model neither caps nor needs more."""
MAX_FREE = 2**16
"""The longest free dimension a synthetic draw grows to (4 s of 16 kHz audio)."""


@dataclass(frozen=True)
class InputSpec:
    """What one model input expects."""

    name: str
    """Input name (keys of an .npz for multi-input models)."""
    shape: tuple[int | None, ...]
    """Shape including the batch dimension (None where free)."""
    dtype: str
    """Keras dtype name (``float32``, ``int32``...)."""
    free: int | None = None
    """Size a synthetic draw gives the free (None) dimensions after the batch; None for the
    default 8. :func:`model_input_specs` sets it from the model: at most its declared
    ``max_sequence_length``, and longer where the model needs it (a strided conv stem on raw
    audio takes hundreds of samples; see :func:`_fit_free_lengths`)."""
    mask: bool = False
    """A padding mask (``padding_mask``, ``*_padding_mask``): synthetic draws are all ones.
    Random 0/1 masks made outputs at padded positions depend on the attention code path
    (measured: ``convert --standard`` on a GPT2Backbone then "differed from IN by 0.0993",
    IN's reference being computed with the rates at 0); with every token real they agree."""
    draw: tuple[int, ...] | None = None
    """The whole shape after the batch a synthetic draw gives this input, where one ``free``
    length for every free dimension does not fit (keras_hub's image inputs:
    :func:`_interleaved_images`); None draws ``free``."""
    fill: Fill | None = None
    """What a synthetic draw puts in, where random values would not mean what the model reads
    (positions, spans); None draws random values (or ones for a ``mask``)."""


@dataclass(frozen=True)
class Fill:
    """Structured synthetic values: ``arange`` (0, 1, ... along the last axis: position ids),
    ``span`` (``start`` ... ``start + count - 1``: the sequence positions of image tokens),
    ``span_mask`` (1 at those positions, 0 elsewhere), ``grid`` (the (x, y) cell of each of
    ``count`` ** 2 patches of a square image, row by row), ``thw`` (an image grid of one
    frame of ``count`` x ``count`` patches)."""

    kind: str
    start: int = 0
    count: int = 0


MAX_NPZ_RATIO = 64
"""An .npz member over 1 MB expanding more than 64:1 is refused (a 2 MB file became 2 GB)."""
MAX_NPZ_MEMBERS = 10_000


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputDataError(f"cannot read {path}: {one_line(exc, typed=False)}") from None


def _load_npz(path: Path, wanted: list[str]) -> dict[str, np.ndarray]:
    """The members of an .npz the model needs, each checked from the zip directory and its .npy
    header before a byte is expanded; members the model does not need are never read."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_NPZ_MEMBERS:
                raise InputDataError(f"{path} has {len(infos):,} members; at most "
                                     f"{MAX_NPZ_MEMBERS:,} are read")
            members = {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy")}
            if not members:
                raise InputDataError(f"{path} holds no arrays")
            if len(wanted) == 1 and len(members) == 1:
                chosen = dict(members)
            else:
                missing = [w for w in wanted if w not in members]
                if missing:
                    raise InputDataError(
                        f"{path} has arrays {sorted(members)}; the model needs {wanted} "
                        f"(missing {missing})")
                chosen = {w: members[w] for w in wanted}
            return {name: _read_member(path, zf, info) for name, info in chosen.items()}
    except InputDataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise InputDataError(f"cannot read {path}: {one_line(exc, typed=False)}") from None


def _read_member(path: Path, zf: Any, info: Any) -> np.ndarray:
    name = info.filename
    if info.file_size > MAX_INPUT_BYTES:
        raise InputDataError(f"{path}: {name} declares {info.file_size:,} bytes, over the "
                             f"{MAX_INPUT_BYTES:,}-byte limit")
    if info.file_size > 2**20 and info.file_size > max(info.compress_size, 1) * MAX_NPZ_RATIO:
        raise InputDataError(f"{path}: {name} expands {info.file_size // max(info.compress_size, 1):,}"
                             ":1 (a compression bomb?); refusing it")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize if dtype.itemsize else 0
        if dtype.hasobject:
            raise InputDataError(f"{path}: {name} holds Python objects; dropctl never unpickles")
        if declared > info.file_size:
            raise InputDataError(f"{path}: {name} declares a {list(shape)} {dtype} array "
                                 f"({declared:,} bytes) in a {info.file_size:,}-byte member")
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


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
        stored = _load_npz(p, [s.name for s in specs])
        if len(specs) == 1 and len(stored) == 1:
            arrays = list(stored.values())
        else:
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


def synthetic_inputs(specs: list[InputSpec], n: int, seed: int, *, stream: int = 0x5EED,
                     option: str = "--synthetic") -> list[np.ndarray]:
    """``n`` seeded inputs per spec: standard normal floats, integer ids in [0, 2) (any vocab).

    The one generator of made-up inputs: ``--synthetic``, ``check --probe`` and ``convert``'s
    verification batch all use it. Unknown dimensions become ``spec.free`` (8 unless the model
    declares less or needs more: :func:`model_input_specs`); ids 0 and 1 are valid for any
    Embedding or lookup; padding masks are all ones. ``stream`` separates independent draws with the same seed
    (``--synthetic-ood`` uses its own).
    """
    if n < 1:
        raise InputDataError(f"{option} needs N >= 1")
    rng = np.random.default_rng([seed, stream])
    out = []
    for spec in specs:
        free = spec.free or DEFAULT_FREE
        shape = (n, *(spec.draw if spec.draw is not None else
                      (free if d is None else d for d in spec.shape[1:])))
        if spec.fill is not None:
            out.append(_filled(spec.fill, shape).astype(spec.dtype))
        elif spec.mask:
            out.append(np.ones(shape, dtype=spec.dtype))
        elif "int" in spec.dtype or "bool" in spec.dtype:
            out.append(rng.integers(0, 2, size=shape).astype(spec.dtype))
        else:
            out.append(rng.standard_normal(shape).astype(spec.dtype))
    return out


def _filled(fill: Fill, shape: tuple[int, ...]) -> np.ndarray:
    if fill.kind == "arange":
        return np.broadcast_to(np.arange(shape[-1]), shape).copy()
    if fill.kind == "span":
        return np.broadcast_to(np.arange(fill.start, fill.start + fill.count), shape).copy()
    if fill.kind == "span_mask":
        marks = np.zeros(shape, dtype=np.int64)
        marks[..., fill.start:fill.start + fill.count] = 1
        return marks
    if fill.kind == "thw":  # one frame of count x count patches
        return np.broadcast_to(np.array([1, fill.count, fill.count]), shape).copy()
    if fill.kind == "grid":  # keras_hub Gemma4ImageConverter: (x, y) = (column, row)
        cells = np.arange(fill.count * fill.count)
        return np.broadcast_to(np.stack([cells % fill.count, cells // fill.count], -1),
                               shape).copy()
    raise ValueError(f"unknown fill {fill.kind!r}")


def inputs_rejected(model: Any, arrays: list[np.ndarray], exc: BaseException, inputs: Any,
                    remedy: str = "pass real inputs (--input FILE)", *,
                    upto: int | None = None) -> DropctlError:
    """The one-line error for a model whose first compiled forward pass fails on ``arrays``.

    Tells apart what the user can fix from what they cannot: when the model runs the same
    inputs eagerly (a bare ``model(x)``) the inputs are fine and the model fails only when
    traced into a graph, as its own ``predict()`` does (measured: keras_hub 0.32's
    Qwen3.5 vision encoder calls ``int()`` on a symbolic ``image_grid_thw`` under
    TensorFlow); else the inputs are what it rejects, ``inputs`` naming where they came
    from (None: a ``--synthetic`` draw, :func:`synthetic_rejected`; a path: that file).
    ``upto``: the rows the compiled pass had reached when it failed (the eager check runs
    those, in batches; default all)."""
    name = getattr(model, "name", "?")
    eager = _eager_failure(model, [a[:upto] for a in arrays])
    if eager is None:
        return UnsupportedModelError(
            f"model '{name}' runs these inputs eagerly (model(x)) but fails when traced into "
            f"a graph, as its predict() does and as dropctl's batched passes must: "
            f"{one_line(exc)}")
    exc = eager  # the reason that is about the inputs, not about tracing them
    if inputs is None:
        return synthetic_rejected(model, arrays, exc, remedy)
    where = (f"the inputs in {inputs}" if isinstance(inputs, str | os.PathLike)
             else "the inputs given")
    return InputDataError(f"model '{name}' rejects {where} ({_described(model, arrays)}): "
                          f"{one_line(exc)}")


EAGER_ROWS = 32
"""Rows per eager call when telling a model's tracing failure from its inputs' (predict()'s
default batch)."""


def _eager_failure(model: Any, arrays: list[np.ndarray]) -> Exception | None:
    """Why ``model(x)`` fails on ``arrays`` (in batches, outside any graph); None if it runs
    on every row. A row the model cannot take fails here as in a graph, wherever it is."""
    from dropctl.runtime import compat

    for i in range(0, arrays[0].shape[0], EAGER_ROWS):
        try:
            model(compat.as_model_inputs(model, [a[i:i + EAGER_ROWS] for a in arrays]),
                  training=False)
        except Exception as exc:  # noqa: BLE001 - Keras and its backends raise any type for inputs a model cannot take
            return exc
    return None


def _described(model: Any, arrays: list[np.ndarray]) -> str:
    """``name (shape) dtype`` for each input array, by the model's input names."""
    try:
        names = [s.name for s in model_input_specs(model)]
    except UnsupportedModelError:
        names = []
    if len(names) != len(arrays):
        names = [f"input {i}" for i in range(len(arrays))]
    return ", ".join(f"{k} {a.shape} {a.dtype}" for k, a in zip(names, arrays, strict=True))


def synthetic_rejected(model: Any, arrays: list[np.ndarray], exc: BaseException,
                       remedy: str = "pass real inputs (--input FILE)"
                       ) -> UnsupportedModelError:
    """The one-line error for a model whose first forward pass fails on ``--synthetic``
    inputs: they follow its declared shapes, dtypes, vocabulary and sequence length, but some
    inputs carry meaning no declaration states (keras_hub's multimodal backbones list their
    image tokens' positions in ``vision_indices``: :func:`_interleaved_images` draws those it
    can count; a custom model may index a table by an input's values, or need two inputs to
    agree in a way only its preprocessor knows)."""
    return UnsupportedModelError(
        f"model '{getattr(model, 'name', '?')}' rejects the synthetic inputs drawn from the "
        f"inputs it declares ({_described(model, arrays)}): {one_line(exc)}; {remedy}")


def _read_label_file(p: Path) -> np.ndarray:
    """The array in a labels/targets file (.npy, or numeric .csv)."""
    if not p.is_file():
        raise InputDataError(f"labels file {p} does not exist")
    if p.suffix.lower() == ".csv":
        try:
            return np.loadtxt(p, delimiter=",", ndmin=1)
        except ValueError as exc:
            raise InputDataError(f"cannot parse {p} as numeric CSV: {exc}") from None
    return _load_npy(p)


def read_labels(path: str | Path, n: int, classes: int) -> np.ndarray:
    """Integer labels [n] from .npy/.csv (class ids, or one-hot rows of width ``classes``)."""
    p = Path(path)
    y = _read_label_file(p)
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


def _built_input_spec(model: Any) -> InputSpec | None:
    """A subclassed model has no input tensors; the shape it was built with (Keras saves it
    as ``build_config``: ``{"input_shape": [1, 4]}``) is its one input, any batch size."""
    try:
        config = model.get_build_config() or {}
    except (AttributeError, ValueError, TypeError):
        return None
    shape = config.get("input_shape") if isinstance(config, dict) else None
    if not (isinstance(shape, list | tuple) and shape
            and all(d is None or (isinstance(d, int) and d > 0) for d in shape)):
        return None  # several inputs (shapes_dict) or nested structures: not guessed
    dtype = getattr(model, "input_dtype", None)
    return InputSpec("input", (None, *shape[1:]), dtype if isinstance(dtype, str) else "float32")


def model_input_specs(model: Any) -> list[InputSpec]:
    """:class:`dropctl.mc.inputs.InputSpec` for every model input."""
    try:
        tensors = list(model.inputs)
    except (AttributeError, ValueError):
        tensors = []
    if not tensors:
        built = _built_input_spec(model)
        if built is None:
            raise UnsupportedModelError(f"model '{model.name}' declares no inputs (subclassed "
                                        "and never built?); dropctl cannot feed it")
        return _fit_free_lengths(model, [built])
    out = []
    for i, t in enumerate(tensors):
        name = str(getattr(t, "name", f"input_{i}")).split(":")[0]
        out.append(InputSpec(name, tuple(None if d is None else int(d) for d in t.shape),
                             str(getattr(t.dtype, "name", t.dtype)), None,
                             name == "padding_mask" or name.endswith("_padding_mask")))
    return _interleaved_images(model, _fit_free_lengths(model, out))


IMAGES_PER_SAMPLE = 1
"""Images a synthetic draw gives each sample of a model that interleaves image tokens."""


def _interleaved_images(model: Any, specs: list[InputSpec]) -> list[InputSpec]:
    """``specs`` drawn as keras_hub's multimodal contract requires, for a model that places
    image embeddings among its token embeddings (Gemma3, Gemma4, T5Gemma2 and Qwen3.5 with a
    vision encoder); other models' ``specs`` unchanged.

    Those models declare ``vision_indices`` as ``(None, None)`` int32, but their interleave
    layer scatters each image's embeddings to the positions it lists, so random ids fail
    (Keras: "Gemma3InterleaveEmbeddings ... scatter") and their count must be images x
    tokens per image. Where keras_hub keeps that count as a public backbone attribute for its
    preprocessors (``num_vision_tokens_per_image``) it is read, as are the vision encoder's
    ``image_size`` and ``patch_size`` (and, for patchified ``pixel_values``, the patch length
    the encoder's own input declares). Qwen3.5 counts an image's tokens from its
    ``image_grid_thw`` (t x h x w patches, merged ``spatial_merge_size`` ** 2 to one token):
    each image is drawn as one frame of (2 x merge) x (2 x merge) patches, 4 tokens.

    A draw gives each sample :data:`IMAGES_PER_SAMPLE` image, the text ``free`` tokens plus
    the image's, the image tokens from the middle of the text on (``vision_mask`` marks
    them), ``position_ids`` 0..L-1, and Gemma4's patch positions the (x, y) grid its image
    converter makes. The image tokens go to the encoder's sequence where the model has one
    (T5Gemma2), else to the one token sequence. A model that keeps none of these counts is
    left as it is: its first forward pass then fails in one line (:func:`synthetic_rejected`).
    """
    names = {s.name: i for i, s in enumerate(specs)}
    if "vision_indices" not in names:
        return specs
    backbone = next((m for m in (model, getattr(model, "backbone", None))
                     if getattr(m, "vision_encoder", None) is not None), None)
    encoder = getattr(backbone, "vision_encoder", None)
    per_image = getattr(backbone, "num_vision_tokens_per_image", None)
    merge = getattr(encoder, "spatial_merge_size", None)
    side = None  # Qwen3.5: patches per side of a drawn image
    if not isinstance(per_image, int) and "image_grid_thw" in names and isinstance(merge, int):
        side = 2 * merge
        per_image = side * side // (merge * merge)
    prefix = "encoder_" if "encoder_token_ids" in names else ""
    if not isinstance(per_image, int) or per_image < 1 or f"{prefix}token_ids" not in names:
        return specs
    tokens = IMAGES_PER_SAMPLE * per_image
    sequence = next(g for g in _length_groups(specs) if names[f"{prefix}token_ids"] in g)
    text = specs[names[f"{prefix}token_ids"]].free or DEFAULT_FREE
    length, start = text + tokens, text // 2
    declared = _declared_length(model)
    if declared is not None and length > declared:
        return specs
    out = list(specs)

    def put(name: str, draw: tuple[int, ...], fill: Fill | None = None) -> None:
        if name in names:
            out[names[name]] = replace(out[names[name]], draw=draw, fill=fill)

    for i in sequence:
        if len(specs[i].shape) == 2:
            put(specs[i].name, (length,), Fill("arange") if specs[i].name.endswith(
                "position_ids") and "int" in specs[i].dtype else specs[i].fill)
    put("vision_mask", (length,), Fill("span_mask", start, tokens))
    put("vision_indices", (tokens,), Fill("span", start, tokens))
    shape = specs[names["images"]].shape if "images" in names else ()
    if len(shape) == 5 and all(isinstance(d, int) for d in shape[2:]):
        put("images", (IMAGES_PER_SAMPLE, *shape[2:]))  # type: ignore[arg-type]
    if "pixel_values" not in names:
        return out
    pixels = specs[names["pixel_values"]].shape
    if side is not None and all(isinstance(d, int) for d in pixels[2:]):
        put("pixel_values", (IMAGES_PER_SAMPLE * side * side, *pixels[2:]))  # type: ignore[arg-type]
        put("image_grid_thw", (IMAGES_PER_SAMPLE, 3), Fill("thw", 0, side))
        return out
    image_size, patch = getattr(encoder, "image_size", None), getattr(encoder, "patch_size", None)
    if isinstance(image_size, int) and isinstance(patch, int) and len(pixels) == 4:
        grid = image_size // patch
        width = _encoder_input_width(encoder, "pixel_values") or 3 * patch * patch
        put("pixel_values", (IMAGES_PER_SAMPLE, grid * grid, width))
        put("pixel_position_ids", (IMAGES_PER_SAMPLE, grid * grid, 2), Fill("grid", 0, grid))
    return out


def _encoder_input_width(encoder: Any, name: str) -> int | None:
    """The last dimension the vision encoder's input ``name`` declares (Gemma4: 3 x patch²)."""
    for t in getattr(encoder, "inputs", None) or []:
        if str(getattr(t, "name", "")).split(":")[0] == name and t.shape[-1] is not None:
            return int(t.shape[-1])
    return None


def _length_groups(specs: list[InputSpec]) -> list[list[int]]:
    """Indices of the inputs whose free dimensions keep one length: a padding mask
    ``P_padding_mask`` and every input named ``P_...`` (keras_hub's naming:
    ``encoder_padding_mask`` marks which ``encoder_input_values`` are real, so it must be as long
    as them); the other inputs together (``token_ids``, ``segment_ids`` and ``padding_mask``)."""
    prefixes = sorted({s.name[:-len("padding_mask")] for s in specs if s.mask} - {""},
                      key=len, reverse=True)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(specs):
        key = s.name[:-len("padding_mask")] if s.mask else next(
            (p for p in prefixes if s.name.startswith(p)), "")
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _fit_free_lengths(model: Any, specs: list[InputSpec]) -> list[InputSpec]:
    """``specs`` with ``free`` set to the lengths a synthetic draw gives their free dimensions.

    By default the shorter of 8 and the model's declared ``max_sequence_length``. When Keras'
    shape inference refuses that (:func:`dropctl.runtime.compat.accepts_shapes`: a Moonshine
    backbone's ``Conv1D`` stem, kernel 127 stride 64 then 7/3 and 3/2, needs over 600 audio
    samples), every free length doubles until the model accepts it, capped by the declared
    length (or :data:`MAX_FREE`); then each group of inputs (:func:`_length_groups`) that does
    not need the growth goes back to the default, so the decoder's tokens stay short while the
    encoder's audio grows. Asking the built model, rather than reading kernel sizes and strides
    off its layers, covers every layer that has a minimum (pooling, dilation, padding, framing
    inside a keras_hub block) the way Keras itself sees them. A model that refuses every length
    keeps the default: its run then reports Keras' own error.
    """
    free = [i for i, s in enumerate(specs) if None in s.shape[1:]]
    if not free:
        return specs
    declared = _declared_length(model)
    default = min(DEFAULT_FREE, declared) if declared else DEFAULT_FREE

    def accepted(lengths: dict[int, int]) -> bool:
        from dropctl.runtime import compat

        # a batch of 2: a batch of 1 could broadcast where the real batch would not
        return compat.accepts_shapes(model, [
            (tuple(d if d is not None else 2 if j == 0 else lengths[i]
                   for j, d in enumerate(s.shape)), s.dtype)
            for i, s in enumerate(specs)])

    lengths = dict.fromkeys(free, default)
    if not accepted(lengths):
        cap = min(declared or MAX_FREE, MAX_FREE)
        grown = default * 2
        while grown <= cap and not accepted(dict.fromkeys(free, grown)):
            grown *= 2
        if grown <= cap:
            lengths = dict.fromkeys(free, grown)
            for group in _length_groups(specs):
                shorter = {**lengths, **{i: default for i in group if i in lengths}}
                if shorter != lengths and accepted(shorter):
                    lengths = shorter
    return [replace(s, free=lengths[i]) if i in lengths else s for i, s in enumerate(specs)]


_LENGTH_KEYS = ("max_sequence_length", "max_position_embeddings", "sequence_length")
"""Also ``max_*_sequence_length`` (Whisper's ``max_decoder_sequence_length``)."""


def _declared_length(model: Any) -> int | None:
    """The longest sequence a keras_hub model (or its task's backbone) declares, else None: a
    longer synthetic sequence would index past its position embedding."""
    for obj in (model, getattr(model, "backbone", None)):
        try:
            cfg = obj.get_config() if obj is not None else None
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            continue
        if not isinstance(cfg, dict):
            continue
        found = [v for k, v in cfg.items()
                 if (k in _LENGTH_KEYS or (k.startswith("max_") and k.endswith("sequence_length")))
                 and isinstance(v, int) and not isinstance(v, bool) and v > 0]
        if found:
            return min(found)
    return None


def read_targets(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """Regression targets (.npy/.csv) shaped like an output ``shape`` = (N, ...), as float64.

    A flat file of N values fits an output of shape (N, 1) too.
    """
    p = Path(path)
    y = _read_label_file(p)
    if y.dtype.kind not in "biuf":
        raise InputDataError(f"{p}: labels have dtype {y.dtype}; expected numbers")
    if y.ndim == 0 or y.shape[0] != shape[0]:
        raise InputDataError(f"{p}: {y.shape[0] if y.ndim else 1} labels for {shape[0]} inputs")
    if y.size != int(np.prod(shape)):
        raise InputDataError(f"{p}: labels have shape {y.shape}; the output has shape {shape}")
    y = y.astype(np.float64).reshape(shape)
    if not np.all(np.isfinite(y)):
        raise InputDataError(f"{p}: labels contain {int(np.count_nonzero(~np.isfinite(y)))} "
                             "NaN/inf value(s)")
    return y
