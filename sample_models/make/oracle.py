"""The oracle: what each sample IS, measured outside dropctl.

Two kinds of truth, neither taken from :mod:`dropctl.reader` (the code the samples test):

* static, in the parent process (zipfile/h5py): every expected site of the catalogue exists in
  the saved config with the expected class, parameters, call kwargs and Lambda closure (a typo in
  the hand-written ground truth fails the build instead of shipping), in config order;
* measured, in a Keras 3 and a tf-keras process: each file is loaded and RUN on a fixed seeded
  batch, recording whether ``predict()`` / ``model(x)`` / ``model(x, training=False|True)`` are
  deterministic. The manifest holds what was observed, not what we believe.

``python -m sample_models.make.oracle models-keras3|models-tfkeras|formats-keras3|formats-tfkeras
OUT --stdin`` (the entries to measure, as JSON, on stdin).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from sample_models.make.catalogue import BATCH, SEED, VOCAB, Sample
from sample_models.make.process import error_line, step_main


def _read_config(path: Path) -> dict[str, Any]:
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))
    if path.suffix == ".json":
        return json.loads(path.read_text())
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def _children(layer: dict[str, Any]) -> list[dict[str, Any]]:
    """Direct child layer dicts of a layer/model config (nested models and wrappers)."""
    cfg = layer.get("config")
    if isinstance(cfg, list):  # Keras 1 / early Keras 2 list-form Sequential
        return cfg
    if not isinstance(cfg, dict):
        return []
    kids: list[dict[str, Any]] = []
    if isinstance(cfg.get("layers"), list):
        kids.extend(cfg["layers"])
    for key in ("layer", "backward_layer"):
        if isinstance(cfg.get(key), dict):
            kids.append(cfg[key])
    return kids


def _name_of(layer: dict[str, Any]) -> str | None:
    return layer.get("name") or (layer.get("config") or {}).get("name")


def _resolve(root: dict[str, Any], path: str) -> tuple[tuple[int, ...], dict[str, Any]]:
    """Find the layer dict at ``path`` and its position (for ordering sites as in the file)."""
    node, pos = root, ()
    for part in path.split("/"):
        for i, child in enumerate(_children(node)):
            if _name_of(child) == part:
                node, pos = child, (*pos, i)
                break
        else:
            raise AssertionError(f"site path {path!r} not found at {part!r}")
    return pos, node


def _call_kwargs(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Call kwargs of each inbound node: Keras 3 {"args","kwargs"} or Keras 2 [..., {kwargs}]."""
    res = []
    for n in node.get("inbound_nodes") or []:
        if isinstance(n, dict):
            res.append(n.get("kwargs") or {})
        elif isinstance(n, list) and n and isinstance(n[0], list) and len(n[0]) >= 4:
            res.append(n[0][3] or {})
    return res


def check_sites(here: Path, sample: Sample, fname: str) -> list[str]:
    """Assert the expected sites exist as described; return them in config order."""
    root = _read_config(here / fname)
    ordered = []
    for path, want in sample.sites.items():
        pos, node = _resolve(root, path)
        cfg = node["config"]
        assert node["class_name"] == want["class_name"], (fname, path, node["class_name"])
        for key, val in want["params"].items():
            assert cfg.get(key) == val, (fname, path, key, cfg.get(key), val)
        if "call_kwargs" in want:
            kws = _call_kwargs(node)
            assert kws and all(
                {k: kw.get(k) for k in want["call_kwargs"]} == want["call_kwargs"] for kw in kws
            ), (fname, path, kws)
        if "closure" in want:
            assert cfg["function"][2] == want["closure"], (fname, path, cfg["function"])
        ordered.extend((pos, p) for p in want.get("dropctl_paths", [path]))
    return [p for _, p in sorted(ordered, key=lambda item: item[0])]


# ---- measured (a Keras 3 or a tf-keras process) ---------------------------------------------


def batch(inputs: list[dict[str, Any]]) -> list[Any]:
    """A fixed random batch of BATCH rows per input (ints below VOCAB for integer inputs)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    xs = []
    for spec in inputs:
        shape = (BATCH, *spec["shape"][1:])
        if "int" in spec["dtype"]:
            xs.append(rng.integers(0, VOCAB, size=shape).astype(spec["dtype"]))
        else:
            xs.append(rng.standard_normal(shape).astype(spec["dtype"]))
    return xs


def measure_models(here: Path, entries: dict[str, Any], flavour: str) -> dict[str, Any]:
    """Load every model file and RUN it: is each way of calling it deterministic?"""
    import numpy as np

    if flavour == "keras3":
        import keras

        def load(fname: str, **kw: Any) -> Any:
            return keras.models.load_model(fname, **kw)  # safe_mode default (True)

        def to_np(y: Any) -> Any:
            return np.asarray(keras.ops.convert_to_numpy(y))

        keras.utils.set_random_seed(SEED)
    else:
        import tensorflow as tf
        import tf_keras as keras
        from tf_keras import backend

        def load(fname: str, **kw: Any) -> Any:
            if fname == "lstm_permadropout_tfkeras.h5":
                # OUR OWN file: legacy h5 loading runs the stored lambda, which is acceptable
                # only here, to measure the Keras 2 ground truth. The lambda looks up ``K``.
                return keras.models.load_model(fname, custom_objects={"K": backend}, safe_mode=False, **kw)
            return keras.models.load_model(fname, **kw)

        def to_np(y: Any) -> Any:
            return np.asarray(y)

        keras.utils.set_random_seed(SEED)
        tf.random.set_seed(SEED)

    prefix = "keras3" if flavour == "keras3" else "tfkeras"
    os.chdir(here)  # bare file names keep error messages free of absolute paths
    results: dict[str, Any] = {}
    for fname, entry in entries.items():
        r: dict[str, Any] = {}
        try:
            model = load(fname)
        except Exception as exc:  # noqa: BLE001 - the oracle records whatever Keras raises as the fact
            r[f"{prefix}_loads"] = False
            r[f"{prefix}_load_error"] = error_line(exc)
            # Tells "the compile config is the problem" apart from "the model itself is".
            try:
                load(fname, compile=False)
                r[f"{prefix}_loads_compile_false"] = True
            except Exception:  # noqa: BLE001 - any Keras failure is the recorded fact
                r[f"{prefix}_loads_compile_false"] = False
            results[fname] = r
            continue
        r[f"{prefix}_loads"] = True
        xs = batch(entry["inputs"])
        x = xs[0] if len(xs) == 1 else xs

        def same(run: Any) -> bool | str:
            try:
                return bool(np.array_equal(to_np(run()), to_np(run())))
            except Exception as exc:  # noqa: BLE001 - Keras's call errors are not a closed set
                return f"error: {error_line(exc)}"

        r[f"{prefix}_predict_deterministic"] = same(
            lambda m=model, x=x: m.predict(x, batch_size=BATCH, verbose=0)
        )
        r[f"{prefix}_call_deterministic"] = same(lambda m=model, x=x: m(x))
        r[f"{prefix}_call_training_false_deterministic"] = same(lambda m=model, x=x: m(x, training=False))
        r[f"{prefix}_training_true_deterministic"] = same(lambda m=model, x=x: m(x, training=True))
        results[fname] = r
    return results




def measure_formats(here: Path, entries: dict[str, Any], flavour: str) -> dict[str, Any]:
    """Run every format sample the way its users would load it (presets through keras_hub,
    weights + config pairs through model_from_json)."""
    import numpy as np

    results: dict[str, Any] = {}
    if flavour == "tfkeras":
        import tensorflow as tf
        import tf_keras as keras
        from tf_keras import backend

        keras.utils.set_random_seed(SEED)
        tf.random.set_seed(SEED)
        fname = "seed_lstm_savedmodel"
        # OUR OWN directory: loading it runs the stored lambda (acceptable only here).
        model = keras.models.load_model(str(here / fname), custom_objects={"K": backend},
                                        safe_mode=False)
        xs = batch(entries[fname]["inputs"])
        a, b = (model.predict(xs[0], batch_size=BATCH, verbose=0) for _ in range(2))
        results[fname] = {"tfkeras_loads": True,
                          "tfkeras_predict_deterministic": bool(np.array_equal(a, b))}
        return results
    import keras
    import keras_hub  # also registers the keras_hub classes that load_model resolves

    keras.utils.set_random_seed(SEED)
    os.chdir(here)  # bare names keep error messages free of absolute paths
    for fname, entry in entries.items():
        r: dict[str, Any] = {}
        path = Path(fname)
        try:
            if fname.endswith("_preset"):
                model = keras_hub.models.Backbone.from_preset(str(path))
            elif fname == "mlp_pair":
                model = keras.models.model_from_json((path / "model.json").read_text())
                model.load_weights(str(path / "model.weights.h5"))
            else:
                model = keras.models.load_model(path)
        except Exception as exc:  # noqa: BLE001 - the oracle records whatever Keras raises as the fact
            r["keras3_loads"] = False
            r["keras3_load_error"] = error_line(exc)
            results[fname] = r
            continue
        r["keras3_loads"] = True
        # Sequence models take any length: measure on 8 tokens.
        xs = batch([{**spec, "shape": [None, *(8 if d is None else d for d in spec["shape"][1:])]}
                     for spec in entry["inputs"]])
        if fname.startswith(("bert", "gpt2")):
            xs = [np.ones_like(x) if "mask" in spec["name"] else
                  (x % 2 if "segment" in spec["name"] else x % 100)
                  for x, spec in zip(xs, entry["inputs"], strict=True)]
        x = xs[0] if len(xs) == 1 else {s["name"]: v for s, v in zip(entry["inputs"], xs,
                                                                       strict=True)}

        def run(m: Any = model, x: Any = x) -> Any:
            y = m.predict(x, batch_size=BATCH, verbose=0)
            return y if not isinstance(y, dict) else np.concatenate(
                [np.asarray(v).reshape(BATCH, -1) for _, v in sorted(y.items())], axis=1)

        def call(m: Any = model, x: Any = x) -> Any:
            y = m(x)
            return np.concatenate([np.asarray(v).reshape(BATCH, -1) for _, v in sorted(
                y.items())], axis=1) if isinstance(y, dict) else np.asarray(y)

        r["keras3_predict_deterministic"] = bool(np.array_equal(run(), run()))
        r["keras3_call_deterministic"] = bool(np.array_equal(call(), call()))
        # Sites measured on the built model: the Dropout-family layers it really holds.
        found = []
        for layer in model._flatten_layers(include_self=False, recursive=True):
            rate = getattr(layer, "rate", None)
            if isinstance(layer, keras.layers.Dropout) and rate:
                found.append(layer.name)
        r["keras3_dropout_layers"] = len(found)
        results[fname] = r
    return results


def _step(measure: Any, flavour: str) -> Any:
    def run(here: Path, entries: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = measure(here, entries, flavour)
        return result

    return run


if __name__ == "__main__":
    step_main({"models-keras3": _step(measure_models, "keras3"),
               "models-tfkeras": _step(measure_models, "tfkeras"),
               "formats-keras3": _step(measure_formats, "keras3"),
               "formats-tfkeras": _step(measure_formats, "tfkeras")})
