"""Generate dropctl/reader/data/semantics.json: what the installed keras and keras_hub build.

Run it after upgrading Keras or keras_hub::

    python scripts/gen_semantics.py --hub-source /path/to/keras-hub   # a checkout or a git dir
    python scripts/gen_semantics.py --check                           # CI: fail when stale
    python scripts/gen_semantics.py --only VideoPrismBackbone [--check]  # one class (and its backbone)
    python scripts/gen_semantics.py --record rec.json   # in a venv with another keras/keras_hub
    python scripts/gen_semantics.py --history rec.json  # back here: keep it in the catalogue

Nothing in the catalogue is typed by hand. For every keras_hub backbone and task the script

1. reads the constructor's signature: the parameters whose name says they set a drop rate
   (``dropout``, ``attention_dropout_rate``, ``proj_drop``, ``drop_path_rate``...);
2. builds a tiny instance from the config in keras_hub's own ``*_backbone_test.py`` (their
   ``self.init_kwargs``; read from ``--hub-source`` or, without it, the configs already in the
   catalogue), once with every rate 0, once per rate parameter with that one at 0.5, and once
   per layer-count key (``num_layers``...) with one more layer. Kwargs that are not literals
   come from running the test's ``setUp()`` in the installed keras_hub: layers and models in
   them (CLIP's encoders) are kept Keras-serialised and rebuilt by :func:`build_kwargs`; a
   backbone a test builds gives its class a config too (CLIP's text encoder; Llama 3's from
   ``llama3_causal_lm_test.py``). A catalogued backbone held by another (``submodels``) is
   read through its own entry below the path Keras puts it; a task whose head does not fit the
   catalogued backbone takes its own test's (``backbone_layout``, VGG);
3. walks the built layers with Keras' own ``_flatten_layers()`` (the oracle), so each site is
   recorded with the path Keras builds, the parameter that sets its rate, the factor applied
   to it (drop-path schedules) and whether it repeats with a count key (``transformer_layer_{i}``);
4. calls the model with ``training=True`` on the ``--synthetic`` inputs and records the sites
   Keras never calls (``called``: false) or whose own call raises (``training_fails``), and,
   for each site class keras_hub defines itself, calls it on ones of the shape it was called
   on and records its multipliers when they are not a drop's (``noise``: :func:`noise_law`).

keras layer classes are read from ``keras.layers`` (constructor parameters setting a rate or a
noise level). The file records the keras, keras_hub and backend versions it was made with.
``--check`` rebuilds everything and exits 1 when the result differs from the committed file,
naming each differing field. The result is deterministic: keys are sorted, count keys are tried
in sorted order (never the order a config happens to list them in), and failure reasons carry no
object addresses or temporary paths.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import io
import json
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple

OUT = Path(__file__).resolve().parents[1] / "dropctl" / "reader" / "data" / "semantics.json"
SCHEMA = 1
RATE_PARAM = re.compile(r"(^|_)drop(out)?(_|$)|dropout|^drop_|_drop$|drop_path|drop_prob|drop_rate")
COUNT_KEY = re.compile(r"^num_(\w+_)?layers$")
MARK = 0.5
NUMBER = re.compile(r"\d+")


# ---- tiny configs from keras_hub's tests ------------------------------------------------------
def _hub_test_files(source: Path, root: str = "keras_hub/src/models/") -> dict[str, str]:
    """{test path: text} of every ``*_test.py`` below ``root`` in a keras-hub checkout or git
    dir (``*_backbone_test.py`` give the tiny configs; a task's test gives the backbone it is
    tested with, and the backbone of a model family with no backbone test:
    ``llama3_causal_lm_test.py``; below ``keras_hub/src/layers`` their ``run_layer_test``
    calls give the layers' configs: :func:`layer_test_configs`)."""
    if (source / "HEAD").is_file() and not (source / "keras_hub").is_dir():  # a bare git dir
        names = subprocess.run(["git", "--git-dir", str(source), "ls-tree", "-r", "--name-only",
                                "HEAD", root], capture_output=True, text=True, check=True).stdout
        wanted = [n for n in names.split() if n.endswith("_test.py")]
        blob = subprocess.run(["git", "--git-dir", str(source), "cat-file", "--batch"],
                              input="".join(f"HEAD:{n}\n" for n in wanted).encode(),
                              capture_output=True, check=True).stdout
        out, at = {}, 0
        for name in wanted:  # "<sha> blob <size>\n<bytes>\n" per name
            head_end = blob.index(b"\n", at)
            size = int(blob[at:head_end].split()[2])
            out[name] = blob[head_end + 1:head_end + 1 + size].decode()
            at = head_end + 1 + size + 1
        return out
    return {str(p.relative_to(source)): p.read_text()
            for p in sorted((source / root).rglob("*_test.py"))}


_LITERAL_NODES = (ast.Dict, ast.List, ast.Tuple, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Add,
                  ast.Sub, ast.Mult, ast.FloorDiv, ast.Div, ast.USub, ast.Load, ast.Attribute,
                  ast.Name)


def _literal(node: ast.AST, attrs: dict[str, Any]) -> Any:
    """A literal expression (with ``self.x`` set earlier in setUp); raises ValueError otherwise."""
    for sub in ast.walk(node):
        if not isinstance(sub, _LITERAL_NODES):
            raise ValueError(type(sub).__name__)
        if isinstance(sub, ast.Attribute) and not (
                isinstance(sub.value, ast.Name) and sub.value.id == "self" and sub.attr in attrs):
            raise ValueError("attribute")
        if isinstance(sub, ast.Name) and sub.id != "self":
            raise ValueError(sub.id)
    code = compile(ast.Expression(node), "<init_kwargs>", "eval")  # type: ignore[arg-type]
    return eval(code, {"__builtins__": {}}, {"self": type("S", (), attrs)})  # no builtins, only `self`


def tiny_configs(files: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """{backbone module: (test file, init_kwargs)} for tests whose kwargs are literals."""
    out = {}
    for name, text in files.items():
        if not name.endswith("_backbone_test.py"):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for fn in ast.walk(tree):
            if not (isinstance(fn, ast.FunctionDef) and fn.name == "setUp"):
                continue
            attrs: dict[str, Any] = {}
            for stmt in fn.body:
                if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                    continue
                target = stmt.targets[0]
                if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                        and target.value.id == "self"):
                    continue
                try:
                    attrs[target.attr] = _literal(stmt.value, attrs)
                except (ValueError, TypeError, ZeroDivisionError):
                    continue
            kwargs = attrs.get("init_kwargs")
            if isinstance(kwargs, dict):
                module = name.removesuffix("_test.py").replace("/", ".")
                out[module] = (name, _jsonable(kwargs))
    return out


# ---- keras_hub layers, in a user's own Keras model ----------------------------------------
LAYER_TEST_ROOTS = ("keras_hub/src/layers/", "keras_hub/src/models/")


def layer_test_configs(files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """{layer class: [{"source", "config", "inputs"}]} from the ``self.run_layer_test(cls=...,
    init_kwargs={...}, input_data=...)`` calls of keras_hub's tests: the literal kwargs (a key
    whose value is a test parameter, ``normalize_first``, keeps its default) and the shape and
    dtype of each input (``random.uniform(shape=(2, 4, 6))``; a dict of them is passed by
    name, as the test passes it: TransformerDecoder's ``encoder_sequence``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, text in sorted(files.items()):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "run_layer_test"):
                continue
            kw = {k.arg: k.value for k in call.keywords}
            cls, init, data = kw.get("cls"), kw.get("init_kwargs"), kw.get("input_data")
            if not (isinstance(cls, ast.Name) and isinstance(init, ast.Dict) and data is not None):
                continue
            config: dict[str, Any] = {}
            for k, v in zip(init.keys, init.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    try:
                        config[k.value] = _literal(v, {})
                    except (ValueError, TypeError, ZeroDivisionError):
                        continue  # a test parameter: the constructor's default
            inputs = _input_shapes(data)
            if inputs is None:
                continue
            entry = {"source": name, "config": _jsonable(config), "inputs": inputs}
            if entry not in out.setdefault(cls.id, []):
                out[cls.id].append(entry)
    return out


def _input_shapes(node: ast.AST) -> dict[str, dict[str, Any]] | None:
    """{input name ("" for a lone tensor): {"shape", "dtype"}} of a test's ``input_data``."""
    if isinstance(node, ast.Dict):
        shapes = {}
        for k, v in zip(node.keys, node.values, strict=True):
            one = _tensor(v)
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)) or one is None:
                return None
            shapes[k.value] = one
        return shapes
    one = _tensor(node)
    return None if one is None else {"": one}


def _tensor(node: ast.AST) -> dict[str, Any] | None:
    """{"shape", "dtype"} of ``random.uniform(shape=...)``, ``ops.ones((...))`` and the like."""
    if not isinstance(node, ast.Call):
        return None
    kw = {k.arg: k.value for k in node.keywords}
    arg = kw.get("shape", node.args[0] if node.args else None)
    try:
        shape = _literal(arg, {}) if arg is not None else None
        dtype = _literal(kw["dtype"], {}) if "dtype" in kw else None
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    if not (isinstance(shape, list | tuple) and shape and all(isinstance(d, int) for d in shape)):
        return None
    func = node.func.attr if isinstance(node.func, ast.Attribute) else ""
    ints = "randint" in func or "integers" in func or (isinstance(dtype, str) and "int" in dtype)
    return {"shape": list(shape), "dtype": "int32" if ints else "float32"}


def catalogue_layer(keras: Any, cls: type, forms: list[dict[str, Any]],
                    params: dict[str, float]) -> dict[str, Any]:
    """The sites of one keras_hub layer class, once per way its tests call it (``forms``).

    Each form is built with every rate parameter at a distinct marker rate, called on
    symbolic inputs of the test's shapes inside a Functional model, walked (the oracle) and
    called with ``training=True`` (:func:`training_calls`); paths are below the layer.
    ``when`` keys are :func:`dropctl.reader.semantics.set_keys`, as the reader reads them. The
    form with the fewest sites is the default; each other one is told apart by the keys it
    sets in the saved layer that the default leaves unset (``when``): TransformerDecoder
    called with an ``encoder_sequence`` saves its shape and builds a cross-attention block."""
    from dropctl.reader.semantics import set_keys

    marks = _markers(sorted(params))
    calls = []
    for form in forms:
        keras.backend.clear_session()
        with fresh_names():
            layer, model = _quiet_build(lambda f=form: _layer_model(keras, cls, f, marks))
        layers: dict[str, Any] = {}
        found = built_sites(model, keras, layers)
        measured = training_calls(model, keras, layers) if found else Calls(set(), {})
        if isinstance(measured, str):
            raise _NotBuilt(f"its training=True call failed: {measured}")
        sites = []
        head = f"{layer.name}/"
        for site in found:
            param, scale = _attribute(site["rate"], marks)
            rel = site["path"].removeprefix(layer.name).removeprefix("/")
            entry = {"path": rel, "class": site["class"], "kind": site["kind"], "param": param,
                     "scale": site["rate"] if param is None else scale, "in_predict": False}
            if site["path"] in measured.dead:
                entry["called"] = False
            if site["path"] in measured.fails:
                entry["training_fails"] = measured.fails[site["path"]]
            law = site_noise(site, site["rate"], layers, measured, keras)
            if law:
                entry["noise"] = law
            if site["path"] == layer.name or site["path"].startswith(head):
                sites.append(entry)
        calls.append({"source": form["source"], "config": form["config"],
                      "inputs": form["inputs"], "sites": sites,
                      "keys": set_keys(keras.saving.serialize_keras_object(layer))})
    calls.sort(key=lambda c: len(c["sites"]))  # stable: the tests' order among equals
    base = calls[0]["keys"]
    kept: list[dict[str, Any]] = []
    for c in calls:
        when = sorted(c.pop("keys") - base)
        if any(k["sites"] == c["sites"] for k in kept):
            continue  # another call form builds the same sites: nothing to tell apart
        kept.append({**c, "when": when})
    return {"params": dict(sorted(params.items())), "calls": kept}


def _layer_model(keras: Any, cls: type, form: dict[str, Any], marks: dict[str, float]
                 ) -> tuple[Any, Any]:
    """(the layer, a Functional model calling it on symbolic inputs) for one call form."""
    layer = cls(**{**form["config"], **marks})
    inputs = {k or "inputs": keras.Input(tuple(v["shape"][1:]), dtype=v["dtype"],
                                         name=k or "inputs") for k, v in form["inputs"].items()}
    if "" in form["inputs"]:
        return layer, keras.Model(inputs["inputs"], layer(inputs["inputs"]))
    return layer, keras.Model(inputs, layer(**inputs))


def hub_layers(keras: Any, keras_hub: Any, configs: dict[str, list[dict[str, Any]]],
               why: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(catalogued, not built with why) of the ``keras_hub.layers`` classes with a rate
    parameter; ``why``: the reason kept for a class with no config (a rebuild from the
    catalogue's own configs)."""
    out: dict[str, Any] = {}
    unbuilt: dict[str, str] = {}
    for attr in sorted(dir(keras_hub.layers)):
        cls = getattr(keras_hub.layers, attr)
        if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)) or issubclass(
                cls, keras.Model):
            continue
        params = _rate_params(cls)
        name = cls.__name__
        if not params or name in out or name in unbuilt:
            continue
        forms = configs.get(name) or []
        if not forms:
            unbuilt[name] = (why or {}).get(name) or (
                "keras_hub's tests call no run_layer_test on it with literal init_kwargs and "
                "input shapes")
            continue
        try:
            out[name] = catalogue_layer(keras, cls, forms, params)
        except Exception as exc:  # noqa: BLE001 - recorded with why, never skipped silently
            unbuilt[name] = exc.args[0] if isinstance(exc, _NotBuilt) else _reason(exc)
    return out, unbuilt


def _recorded_layer_configs(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The layer configs a catalogue was made from (for a rebuild without ``--hub-source``)."""
    return {name: [{k: c[k] for k in ("source", "config", "inputs")} for c in item["calls"]]
            for name, item in (doc.get("hub_layers") or {}).items()}


# ---- tiny configs from running a test's setUp (kwargs that are not literals) ----------------
def _test_cases(name: str, text: str) -> list[type]:
    """The TestCase classes (with a ``setUp``) a keras_hub test module defines, its source
    executed as a module of the installed keras_hub (``keras_hub.src.tests.test_case``)."""
    import types
    import unittest

    mod_name = name.removesuffix(".py").replace("/", ".")
    module = types.ModuleType(mod_name)
    module.__file__ = name
    exec(compile(text, name, "exec"), module.__dict__)  # keras_hub's own test, as pytest runs it
    return [v for v in module.__dict__.values() if isinstance(v, type)
            and issubclass(v, unittest.TestCase) and v.__module__ == mod_name
            and "setUp" in v.__dict__]


def _set_up(case_cls: type, keras: Any) -> Any:
    """An instance of ``case_cls`` after its ``setUp()`` (fresh layer names: deterministic)."""
    keras.backend.clear_session()
    with fresh_names():
        case = case_cls()
        _quiet_build(case.setUp)
    return case


def _serialised(value: Any, keras: Any) -> Any:
    """A setUp kwarg as JSON: Keras layers and models Keras-serialised (rebuilt by
    :func:`build_kwargs`), numbers and strings as they are; anything else (an array, a
    tensor, a tokenizer's vocabulary file) raises ValueError naming its type."""
    import numpy as np

    if isinstance(value, keras.layers.Layer):
        return _jsonable(keras.saving.serialize_keras_object(value))
    if isinstance(value, dict):
        return {str(k): _serialised(v, keras) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_serialised(v, keras) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"a {type(value).__name__} value in its setUp kwargs is not JSON")


def _backbones_in(case: Any) -> list[Any]:
    """The keras_hub backbones a set-up test holds (``self.backbone``, CLIP's encoders in
    ``init_kwargs``), in attribute order, nested ones after their holder."""
    from keras_hub.src.models.backbone import Backbone

    out: list[Any] = []

    def visit(v: Any) -> None:
        if isinstance(v, Backbone) and all(v is not o for o in out):
            out.append(v)
            for sub in vars(v).values():
                if isinstance(sub, Backbone):
                    visit(sub)
        elif isinstance(v, dict):
            for x in v.values():
                visit(x)
        elif isinstance(v, list | tuple):
            for x in v:
                visit(x)

    for v in vars(case).values():
        visit(v)
    return out


def setup_configs(files: dict[str, str], have: set[str]
                  ) -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, str]]:
    """({backbone module: (test file, init_kwargs)}, {backbone class: why not}) from running
    the ``setUp`` of keras_hub's tests, for the backbone modules not in ``have`` (the literal
    configs): a backbone test's ``init_kwargs`` (layers in them Keras-serialised), else the
    config of a backbone a test builds (CLIP's text encoder, ``self.backbone`` of
    ``llama3_causal_lm_test.py``), as its ``get_config()`` gives it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import keras_hub
    from keras_hub.src.models.backbone import Backbone

    backbones, _ = _hub_classes(keras_hub)
    missing = {c.__module__ for c in backbones} - have
    dirs = {m.rsplit(".", 1)[0].replace(".", "/") for m in missing}
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    sub_found: dict[str, tuple[str, dict[str, Any]]] = {}
    why: dict[str, str] = {}
    for name in sorted(files):
        own = name.removesuffix("_test.py").replace("/", ".")
        if name.rsplit("/", 1)[0] not in dirs:
            continue
        try:
            cases = _test_cases(name, files[name])
        except Exception as exc:  # noqa: BLE001 - recorded with why, never skipped silently
            if name.endswith("_backbone_test.py"):
                why[own] = f"its test module does not import: {_reason(exc)}"
            continue
        for case_cls in cases:
            try:
                case = _set_up(case_cls, keras)
            except Exception as exc:  # noqa: BLE001 - recorded with why
                if name.endswith("_backbone_test.py"):
                    why.setdefault(own, f"its test's setUp fails: {_reason(exc)}")
                continue
            kwargs = getattr(case, "init_kwargs", None)
            if kwargs is None:  # d_fine_backbone_test.py: parameterized tests add to these
                kwargs = getattr(case, "base_init_kwargs", None)
            held = _backbones_in(case)
            if name.endswith("_backbone_test.py") and isinstance(kwargs, dict):
                target = _tested_backbone(case_cls, own, Backbone)
                if target in missing and target not in found:
                    try:
                        found[target] = (name, _serialised(kwargs, keras))
                    except ValueError as exc:
                        why.setdefault(target, str(exc))
            for b in held:
                module = type(b).__module__
                if module in missing and module not in sub_found:
                    sub_found[module] = (name, _serialised(b.get_config(), keras))
            break  # the first TestCase with a setUp: the file's main test
    for module, got in sub_found.items():
        found.setdefault(module, got)
    name_of = {c.__module__: c.__name__ for c in backbones}
    return found, {name_of[m]: w for m, w in why.items() if m not in found and m in name_of}


def _tested_backbone(case_cls: type, own: str, base: type) -> str:
    """The module of the backbone a ``*_backbone_test.py`` tests: the file's own module, else
    the imported backbone class named like the file (``flux_backbone_test.py`` imports
    ``FluxBackbone`` from ``flux_model``)."""
    stem = own.rsplit(".", 1)[1].replace("_", "")
    for v in case_cls.setUp.__globals__.values():
        if isinstance(v, type) and issubclass(v, base) and v.__module__ == own:
            return own
    found = sorted(v.__module__ for v in case_cls.setUp.__globals__.values()
                   if isinstance(v, type) and issubclass(v, base) and v.__name__.lower() == stem)
    return found[0] if found else own


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def is_serialised(value: Any) -> bool:
    """Whether a tiny-config value is a Keras-serialised layer or model (a sub-encoder)."""
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and isinstance(
        value.get("config"), dict)


def build_kwargs(cfg: dict[str, Any],
                 sub_rates: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """A catalogued tiny config as constructor kwargs: JSON lists back to tuples where
    keras_hub wants shapes (``image_shape``, ``patch_size``), Keras-serialised layers and
    models deserialised (a fresh instance per call), ``sub_rates[key]`` set in the config of
    the sub-model at ``key`` first. The one way the generator and the tests build."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if is_serialised(v):
            import keras

            v = {**v, "config": {**v["config"], **(sub_rates or {}).get(k, {})}}
            out[k] = keras.saving.deserialize_keras_object(json.loads(json.dumps(v)))
        elif isinstance(v, list) and k.endswith(("_shape", "_size")):
            out[k] = tuple(v)
        else:
            out[k] = v
    return out


def instantiate(name: str, models: dict[str, Any], rates: dict[str, float],
                sub_rate: float) -> Any:
    """Catalogued class ``name`` built from its tiny config (what the tests save and load):
    ``rates`` for its own rate parameters, ``sub_rate`` for every rate parameter of its
    sub-models and of a task's backbone (the one it was catalogued on)."""
    import keras_hub

    item = models[name]
    cls = getattr(keras_hub.models, name)
    if item["kind"] == "task":
        layout = item.get("backbone_layout") or models[item["backbone"]]
        backbone = getattr(keras_hub.models, item["backbone"])(**build_kwargs(
            {**layout["tiny_config"], **dict.fromkeys(layout["params"], sub_rate)},
            _sub_rates(layout, models, sub_rate)))
        return cls(backbone=backbone, **item["task_kwargs"], **rates)
    return cls(**build_kwargs({**item["tiny_config"], **rates},
                              _sub_rates(item, models, sub_rate)))


def _sub_rates(item: dict[str, Any], models: dict[str, Any], rate: float
               ) -> dict[str, dict[str, float]]:
    return {k: dict.fromkeys((s.get("layout") or models[s["class"]])["params"], rate)
            for k, s in (item.get("submodels") or {}).items()}


# ---- the oracle: walking what Keras built -----------------------------------------------------
def _rate_attrs(layer: Any) -> float:
    for attr in ("rate", "drop_rate", "drop_prob", "drop_path_rate", "drop_path", "_rate",
                 "_drop_rate", "_drop_prob"):
        v = getattr(layer, attr, None)
        if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            return float(v)
    return 0.0


def _random_call(cls: type) -> bool:
    try:
        src = inspect.getsource(cls.call)
    except (OSError, TypeError):
        return False
    return "random" in src or "dropout" in src


def site_of(layer: Any, keras: Any) -> tuple[str, float] | None:
    """(kind, rate) of a stochastic layer as Keras built it, else None."""
    L = keras.layers
    if isinstance(layer, L.SpatialDropout1D | L.SpatialDropout2D | L.SpatialDropout3D):
        return ("spatial_dropout", float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, L.Dropout):
        return ("dropout", float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, L.GaussianDropout):
        return ("gaussian_dropout", float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, L.AlphaDropout):
        return ("alpha_dropout", float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, L.GaussianNoise):
        return ("gaussian_noise", float(layer.stddev)) if layer.stddev > 0 else None
    if isinstance(layer, L.MultiHeadAttention):
        rate = float(getattr(layer, "_dropout", 0.0) or 0.0)
        return ("attention", rate) if rate > 0 else None
    if isinstance(layer, L.RNN):
        cells = getattr(layer.cell, "cells", None) or [layer.cell]
        rate = max(float(getattr(c, a, 0.0) or 0.0) for c in cells
                   for a in ("dropout", "recurrent_dropout"))
        return ("recurrent", rate) if rate > 0 else None
    if isinstance(layer, keras.Model):
        return None
    if not list(layer._flatten_layers(include_self=False, recursive=False)):
        rate = _rate_attrs(layer)
        if rate > 0 and _random_call(type(layer)):
            return ("stochastic_depth" if "path" in type(layer).__name__.lower()
                    or "depth" in type(layer).__name__.lower() else "dropout", rate)
    return None


def built_sites(model: Any, keras: Any, layers: dict[str, Any] | None = None
                ) -> list[dict[str, Any]]:
    """Every stochastic layer below ``model``, pre-order, paths relative to the model (a layer
    shared by several paths is listed at its first); ``layers`` gets {path: layer}."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(model, "")]
    while stack:
        layer, path = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        found = site_of(layer, keras) if path else None
        if found is not None:
            out.append({"path": path, "class": type(layer).__name__, "kind": found[0],
                        "rate": found[1]})
            if layers is not None:
                layers[path] = layer
            continue  # an attention layer's own Dropout is this site; a leaf has no inside
        children = [c for c in layer._flatten_layers(include_self=False, recursive=False)
                    if not isinstance(c, keras.layers.InputLayer)]
        stack.extend((c, f"{path}/{c.name}" if path else c.name) for c in reversed(children))
    return out


class Calls(NamedTuple):
    """What a ``model(x, training=True)`` call measured: the site paths Keras never called,
    the sites whose own ``call`` raised (path: Keras' reason), and the shape of the input
    each site was called on (eager calls only)."""

    dead: set[str]
    fails: dict[str, str]
    shapes: dict[str, tuple[int, ...]] = {}


def training_calls(model: Any, keras: Any, layers: dict[str, Any] | None = None
                   ) -> Calls | str:
    """Which sites Keras calls in ``model(x, training=True)``, or why no call could be made.

    Never called (built but dead): keras_hub 0.32's GemmaDecoderBlock builds a
    ``feedforward_dropout`` its ``call`` never uses; EfficientNet's first block of a stage
    builds the drop it only applies on a residual. Raising: a site whose own ``call`` fails
    under ``training=True`` (keras_hub 0.32's DINOV2DropPath takes its noise shape from the
    symbolic build, ``(None, 1, 1)``, so every training call of the model fails, ``fit()``
    too); it is recorded with Keras' reason and passes its input on, so the sites after it
    are still measured. Called eagerly on the seeded inputs ``--synthetic`` draws; a model
    that rejects them (inputs whose meaning no declaration states) is traced instead on its
    declared input shapes (no values: which layers a functional model calls does not depend
    on them; a site that raises while traced is not told apart from a rejected trace, so the
    reason of the eager call is returned). ``layers`` is the {path: layer}
    :func:`built_sites` filled, if the caller walked the model already."""
    from dropctl.mc.inputs import model_input_specs, synthetic_inputs
    from dropctl.runtime.compat import as_model_inputs, trace_call

    if layers is None:
        layers = {}
        built_sites(model, keras, layers)
    called: set[int] = set()
    fails: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    eager = [True]
    for path, layer in layers.items():
        def call(*args: Any, _layer: Any = layer, _path: str = path, **kwargs: Any) -> Any:
            called.add(id(_layer))
            given = args[0] if args else kwargs.get("inputs")
            if eager[0] and hasattr(given, "shape"):
                shapes.setdefault(_path, tuple(int(d) for d in given.shape))
            try:
                return type(_layer).call(_layer, *args, **kwargs)
            except Exception as exc:  # re-raised when traced; else recorded with why
                if not eager[0]:
                    raise
                fails.setdefault(_path, f"in {type(_layer).__name__}.call(): {_reason(exc)}")
                return args[0] if args else kwargs["inputs"]  # dropout keeps the shape

        object.__setattr__(layer, "call", call)  # an instance attribute: this build only
    try:
        x = as_model_inputs(model, synthetic_inputs(model_input_specs(model), 2, 0))
        _quiet_build(lambda: model(x, training=True))
    except Exception as first:  # noqa: BLE001 - traced instead, or the reason is recorded
        called.clear()
        fails.clear()
        shapes.clear()
        eager[0] = False
        try:
            _quiet_build(lambda: trace_call(lambda v: model(v, training=True), model.input))
        except Exception:  # noqa: BLE001 - recorded with why
            return _reason(first)
    return Calls({p for p, layer in layers.items() if id(layer) not in called}, fails, shapes)


NOISE_VALUES = 1 << 20
"""Values per noise measurement (:func:`noise_law`): rows of the shape a site was called on."""


def noise_law(layer: Any, shape: tuple[int, ...], rate: float, keras: Any
              ) -> dict[str, float] | None:
    """How ``layer``'s own ``call`` scales its input under ``training=True``, measured on ones
    of ``shape`` (its batch grown to up to :data:`NOISE_VALUES` values; the site's build rate
    ``rate``): None when it is a drop, each multiplier 0 or 1 / (1 - rate) as Keras' Dropout
    draws them; else ``{"rate", "min", "max", "mean"}`` of the multipliers it drew.

    Measured, never assumed from a name: keras_hub 0.32's ``DINOV2DropPath`` and
    ``DINOV3DropPath`` add ``uniform(0, 1)`` to ``keep_prob`` without the ``floor`` every
    other drop path in keras_hub applies, so their multipliers are continuous in
    [1, (1 + keep) / keep) with mean (keep + 0.5) / keep: no sample is dropped, and the
    outputs of ``fit()`` and of Monte Carlo passes are scaled up (1.56 at rate 0.1)."""
    import numpy as np

    from dropctl.runtime.compat import batch_sized_noise

    per_row = max(1, math.prod(shape[1:]))
    rows = max(shape[0] if shape else 1, NOISE_VALUES // per_row)
    x = keras.ops.ones((rows, *shape[1:]))
    keras.utils.set_random_seed(0)  # the catalogue is reproducible: --check rebuilds it
    own = batch_sized_noise(layer, lambda v, **kw: type(layer).call(layer, v, **kw))
    try:
        got = np.asarray(keras.ops.convert_to_numpy(_quiet_build(lambda: own(x, training=True))),
                         dtype=np.float64).ravel()
    except Exception:  # noqa: BLE001 - a call that raises is DC305's, measured apart
        return None
    drop = np.isclose(got, 0.0, atol=1e-6) | np.isclose(got, 1.0 / (1.0 - rate), rtol=1e-5)
    if drop.all():
        return None
    return {"rate": round(rate, 6), "min": round(float(got.min()), 4),
            "max": round(float(got.max()), 4), "mean": round(float(got.mean()), 4)}


# ---- building -----------------------------------------------------------------------------------
def site_noise(site: dict[str, Any], rate: float, layers: dict[str, Any], measured: Calls,
               keras: Any) -> dict[str, float] | None:
    """:func:`noise_law` of a built site whose class keras_hub defines itself (Keras' own
    Dropout family is a drop by Keras' definition; an attention or recurrent layer's noise is
    its inner Dropout's), if the training call reached it eagerly."""
    layer = layers[site["path"]]
    if (site["path"] not in measured.shapes or site["kind"] in ("attention", "recurrent")
            or type(layer).__module__.startswith("keras.")):
        return None
    return noise_law(layer, measured.shapes[site["path"]], rate, keras)


def _quiet_build(fn: Any) -> Any:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn()


def _rate_params(cls: type) -> dict[str, float]:
    out = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if RATE_PARAM.search(name) and not name.startswith(("use_", "num_")):
            default = None if p.default is inspect.Parameter.empty else p.default  # required
            if default is None or (isinstance(default, int | float)
                                   and not isinstance(default, bool)):
                out[name] = float(default or 0.0)
    return out


_SEGMENT = re.compile(r"^(.*?)_(\d+)$")


def _tokens(path: str) -> list[tuple[str, int | None]]:
    """(stem, number) per path segment: ``dropout_3`` -> ("dropout", 3), ``dropout`` ->
    ("dropout", None) (Keras names the first of a name bare, then ``_1``, ``_2``...)."""
    out: list[tuple[str, int | None]] = []
    for seg in path.split("/"):
        m = _SEGMENT.match(seg)
        out.append((m.group(1), int(m.group(2))) if m else (seg, None))
    return out


def _series(members: list[list[tuple[str, int | None]]], index: int | None, layers: int
            ) -> list[list[list[tuple[str, int | None]]]] | None:
    """series[r][i]: the r-th member of layer i (members of one layer ordered by numbers)."""
    per: dict[int, list[list[tuple[str, int | None]]]] = {}
    for m in members:
        per.setdefault(m[index][1] or 0 if index is not None else 0, []).append(m)
    rows = [sorted(v, key=lambda m: [x or 0 for _, x in m]) for _, v in sorted(per.items())]
    if len(rows) != layers or len({len(r) for r in rows}) != 1:
        return None
    return [[row[r] for row in rows] for r in range(len(rows[0]))]


def _templates(paths: list[list[str]], n: int) -> dict[str, dict[str, Any]] | None:
    """Templates that give the site paths of ``paths[j]`` (the model built with ``n + j``
    counted layers), {path in paths[0]: template}, or None when no template set predicts
    every build exactly (:func:`dropctl.reader.semantics.render` is the one expansion).

    Paths with the same stems form a group; a segment whose number runs over the layers is
    the layer index (``transformer_layer_{i}``); every other number is fitted as
    ``a * i + b * n + c`` (Keras' per-name counter: ``dropout_{2i + 1}``, bare when 0).
    """
    from dropctl.reader.semantics import render

    def groups(ps: list[str]) -> dict[tuple[str, ...], list[list[tuple[str, int | None]]]]:
        out: dict[tuple[str, ...], list[list[tuple[str, int | None]]]] = {}
        for p in ps:
            toks = _tokens(p)
            out.setdefault(tuple(t for t, _ in toks), []).append(toks)
        return out

    g0, g1 = groups(paths[0]), groups(paths[1])
    result: dict[str, dict[str, Any]] = {}
    for stems, members0 in g0.items():
        members1 = g1.get(stems, [])
        width = len(stems)
        index = None
        for q in range(width):
            v0 = {m[q][1] for m in members0}
            v1 = {m[q][1] for m in members1}
            if None in v0 or None in v1 or len(v0) != n or len(v1) != n + 1:
                continue
            lo = min(v0)
            if v0 == set(range(lo, lo + n)) and v1 == set(range(lo, lo + n + 1)):
                index = q
                break

        s0 = _series(members0, index, n if index is not None else 1)
        s1 = _series(members1, index, n + 1 if index is not None else 1)
        if s0 is None or s1 is None or len(s0) != len(s1):
            return None
        for r0, r1 in zip(s0, s1, strict=True):
            segments: list[list[Any]] = []
            for q, stem in enumerate(stems):
                nums0 = [m[q][1] for m in r0]
                nums1 = [m[q][1] for m in r1]
                if all(x is None for x in nums0 + nums1):
                    segments.append([stem, "fixed", 0, 0, 0])
                    continue
                bare = any(x is None for x in nums0 + nums1)
                v0 = [x or 0 for x in nums0]
                v1 = [x or 0 for x in nums1]
                if q == index:
                    segments.append([stem, "num", 1, 0, v0[0]])
                    continue
                a = (v0[1] - v0[0]) if len(v0) > 1 else (v1[1] - v1[0]) if len(v1) > 1 else 0
                b = v1[0] - v0[0]
                segments.append([stem, "counter" if bare else "num", a, b, v0[0] - b * n])
            tmpl = {"segments": segments, "per_layer": index is not None}
            for i, m in enumerate(r0):
                result["/".join(f"{t}_{x}" if x is not None else t for t, x in m)] = tmpl
                if not tmpl["per_layer"]:
                    break
                _ = i
    # one set of templates must give every build's exact site list
    unique = {json.dumps(t, sort_keys=True): t for t in result.values()}
    for j, ps in enumerate(paths):
        got: set[str] = set()
        for t in unique.values():
            layers = range(n + j) if t["per_layer"] else range(1)
            got.update(render(t, i, n + j) for i in layers)
        if got != set(ps) or len(result) != len(paths[0]):
            return None
    return result


def fresh_names() -> Any:
    """Keras' layer-name counters as in a fresh process (``dropout``, ``dropout_1``...), the
    scope dropctl's loader builds in (:func:`dropctl.runtime.compat.fresh_layer_names`)."""
    from dropctl.runtime.compat import fresh_layer_names

    return fresh_layer_names()


def _markers(params: list[str]) -> dict[str, float]:
    """A distinct rate per parameter (0.5, 0.25, 0.125...): a site's rate names its parameter
    (a drop-path schedule scales its parameter by a factor up to 1)."""
    return {p: 0.5 / 2**i for i, p in enumerate(params)}


def _attribute(rate: float, marks: dict[str, float]) -> tuple[str | None, float]:
    for p, m in marks.items():
        if abs(rate - m) < 1e-9:
            return p, 1.0
    # a schedule: the parameter that names a path or a depth, else the smallest rate above it
    paths = [p for p in marks if "path" in p or "prob" in p]
    above = sorted((m, p) for p, m in marks.items() if m >= rate)
    p = paths[0] if paths else (above[0][1] if above else None)
    return (p, round(rate / marks[p], 6)) if p else (None, rate)


def _depends_on_count(template: dict[str, Any]) -> bool:
    return any(seg[1] != "fixed" and seg[3] for seg in template["segments"])


def _prefer(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether a template fitted for a later count key (keys go in sorted order) replaces the
    one an earlier key gave the same path: one that repeats per layer beats one that does not,
    and a path whose name moves with the count (``dropout_{n}``) beats a fixed one. Otherwise
    the first key stays, so the catalogue never depends on the order of a config's keys
    (VideoPrism's fixed ``spatial_encoder/dropout`` fits all four of its count keys)."""
    rank = (new["per_layer"], _depends_on_count(new))
    return rank > (old["per_layer"], _depends_on_count(old))


MAX_VARIANTS_PARAMS = 4
"""Up to this many rate parameters, every subset of them switched on is built: Keras names
layers by a counter (``dropout_3``), so which rates are 0 can move other sites' paths."""


def catalogue_model(keras: Any, build: Any, tiny: dict[str, Any],
                    params: dict[str, float]) -> dict[str, Any]:
    """The sites of one keras_hub class: ``build(kwargs)`` makes an instance."""
    import itertools

    names = sorted(params)

    unmeasured: list[str] = []

    def sites(on: tuple[str, ...], extra: dict[str, Any] | None = None,
              calls: bool = True) -> list[dict[str, Any]]:
        marks = _markers(list(on))
        keras.backend.clear_session()
        with fresh_names():
            model = _quiet_build(lambda: build({**tiny, **dict.fromkeys(names, 0.0), **marks,
                                                **(extra or {})}))
        out = []
        layers: dict[str, Any] = {}
        found = built_sites(model, keras, layers)
        measured = training_calls(model, keras, layers) if calls and found else Calls(set(), {})
        if isinstance(measured, str):
            unmeasured.append(measured)
            measured = Calls(set(), {})
        for s in found:
            rate = s.pop("rate")
            param, scale = _attribute(rate, marks) if on else (None, rate)
            fixed = param is None
            law = site_noise(s, rate, layers, measured, keras)
            out.append({**s, "param": param, "scale": rate if fixed else scale,
                        **({"called": False} if s["path"] in measured.dead else {}),
                        **({"training_fails": measured.fails[s["path"]]}
                           if s["path"] in measured.fails else {}),
                        **({"noise": law} if law else {})})
        return out

    zero = sites((), calls=False)
    fixed_paths = {s["path"] for s in zero}
    for s in zero:
        s["param"] = None
    full = sites(tuple(names))
    for s in full:
        if s["path"] in fixed_paths:
            s["param"], s["scale"] = None, next(z["scale"] for z in zero if z["path"] == s["path"])
    variants: dict[str, list[dict[str, Any]]] = {}
    if len(names) <= MAX_VARIANTS_PARAMS:
        for k in range(1, len(names)):
            for on in itertools.combinations(names, k):
                got = sites(on)
                expect = [s for s in full if s["param"] in on or s["param"] is None]
                if [(s["path"], s["param"]) for s in got] != [
                        (s["path"], s["param"]) for s in expect]:
                    variants[",".join(on)] = got
    # Sorted: the tiny config's key order differs between keras_hub's test file and the
    # catalogue (written with sorted keys), and must not decide anything (see _prefer).
    counts = sorted(k for k, v in tiny.items()
                    if COUNT_KEY.match(k) and isinstance(v, int) and v > 0)
    base = [s["path"] for s in full]
    templated: dict[str, dict[str, Any]] = {}
    verified: dict[str, bool] = {}
    for key in counts:
        try:
            grown = [[s["path"] for s in sites(tuple(names), {key: tiny[key] + j}, False)]
                     for j in (1, 2)]
        except Exception:  # noqa: BLE001 - a config that cannot take more layers
            verified[key] = False
            continue
        found = None if variants else _templates([base, *grown], tiny[key])
        verified[key] = found is not None
        for path, tmpl in (found or {}).items():
            if path not in templated or _prefer(tmpl, templated[path]):
                templated[path] = {**tmpl, "repeat": key}

    def entry(s: dict[str, Any]) -> dict[str, Any]:
        out = {"path": s["path"], "class": s["class"], "kind": s["kind"],
               "param": s["param"], "scale": s["scale"],
               "in_predict": False}  # Keras' stock dropout acts only under training=True
        if s["path"] in templated:
            out["template"] = templated[s["path"]]
        if s.get("called") is False:  # measured: never called, even with training=True
            out["called"] = False
        if s.get("training_fails"):  # measured: its own call raises under training=True
            out["training_fails"] = s["training_fails"]
        if s.get("noise"):  # measured: its training noise is not a drop
            out["noise"] = s["noise"]
        return out

    return {"sites": [entry(s) for s in full], "count_keys": verified,
            "variants": {k: [entry(s) for s in v] for k, v in variants.items()},
            **({"calls_unmeasured": unmeasured[0]} if unmeasured else {})}


def _hub_classes(keras_hub: Any) -> tuple[list[type], list[type]]:
    from keras_hub.src.models.backbone import Backbone
    from keras_hub.src.models.task import Task

    backbones, tasks = [], []
    for name in sorted(dir(keras_hub.models)):
        obj = getattr(keras_hub.models, name)
        if not isinstance(obj, type) or obj in (Backbone, Task, *backbones, *tasks):
            continue  # aliases (AlbertClassifier is AlbertTextClassifier) once
        if issubclass(obj, Backbone):
            backbones.append(obj)
        elif issubclass(obj, Task) and _rate_params(obj):
            tasks.append(obj)
    return backbones, tasks


def _task_kwargs(cls: type) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters
    out: dict[str, Any] = {"preprocessor": None} if "preprocessor" in params else {}
    if "num_classes" in params:
        out["num_classes"] = 3
    return out


def keras_layers(keras: Any) -> dict[str, Any]:
    """keras.layers classes with a constructor parameter that sets a rate or a noise level."""
    out = {}
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        if not (isinstance(obj, type) and issubclass(obj, keras.layers.Layer)):
            continue
        sig = inspect.signature(obj.__init__).parameters
        params = sorted(p for p in sig if RATE_PARAM.search(p) or (
            p in ("rate", "stddev") and issubclass(obj, keras.layers.Layer)
            and ("Dropout" in obj.__name__ or "Noise" in obj.__name__)))
        if params:
            out[name] = {"params": params, "in_predict": False}
    return out


_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")
_TMP_NAME = re.compile(r"(/tmp|/var/folders)/\S+")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_WRAP = "Exception encountered when calling"


def _reason(exc: BaseException) -> str:
    """Why a class did not build, in one line with nothing that changes between runs (object
    addresses, temporary paths). Keras wraps an error raised inside a layer's ``call`` as
    "Exception encountered when calling X.call().", a blank line, then the cause in bold:
    the cause is kept, after where it was raised."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if text.startswith(_KERAS_WRAP) and len(lines) > 1:
        where = text[len(_KERAS_WRAP):].strip().rstrip(".")
        text = f"in {where}: {lines[1]}"
    text = _TMP_NAME.sub("<tmp>", _ADDRESS.sub("0x...", text))
    return f"{type(exc).__name__}: {text[:240]}"


SUB_RATE = 0.3
"""The rate every parameter of a sub-model gets when the generator finds where its sites land
(not a marker: :func:`_markers` gives 0.5, 0.25...)."""


def submodels(tiny: dict[str, Any], catalogued: set[str]) -> dict[str, str]:
    """{kwarg: class} of the Keras-serialised catalogued backbones in a tiny config (CLIP's
    ``vision_encoder``, SegFormer's ``image_encoder``): read through their own entries."""
    return {k: v["class_name"] for k, v in sorted(tiny.items())
            if is_serialised(v) and v["class_name"] in catalogued}


def _submodel_paths(keras: Any, build: Any, found: tuple[str, dict[str, Any]],
                    params: dict[str, float], subs: dict[str, str], models: dict[str, Any],
                    why: dict[str, str] | None, classes: dict[str, type]) -> dict[str, Any]:
    """{kwarg: {"class", "path", "named"[, "layout"]}}: where the sites of each sub-model land
    in the built model (``path``: the prefix of its own paths; ``named``: the prefix is the
    sub-model's own name, read from the saved config), found by building with every rate of
    the sub-models on and matching what the catalogue's read of each gives. A sub-model whose
    config is not its class's catalogued layout (BASNet's ResNet) gets its own entry built
    from it (``layout``). Raises ValueError when its sites do not land as one block below
    one prefix."""
    from dropctl.reader.semantics import expand_item

    test_file, tiny = found
    on = {k: dict.fromkeys(_rate_params(classes[c]), SUB_RATE) for k, c in subs.items()}
    keras.backend.clear_session()
    with fresh_names():
        model = _quiet_build(lambda: build({**tiny, **dict.fromkeys(params, 0.0)}, on))
    got = [s["path"] for s in built_sites(model, keras)]
    out: dict[str, Any] = {}
    claimed: set[str] = set()
    for key, cls in subs.items():
        cfg = tiny[key]["config"]
        item, layout = models[cls], None
        if expand_item(item, {**cfg, **on[key]}, lookup=models.get) is None:
            layout = _catalogue_backbone(keras, classes[cls], (test_file, cfg),
                                         submodels(cfg, set(classes)), models, why, classes)
            item = layout
        rel = expand_item(item, {**cfg, **on[key]}, lookup=models.get)
        if rel is None:
            raise ValueError(f"the catalogue cannot read its {key} ({cls})")
        name = cfg.get("name")
        place: dict[str, Any] = {"class": cls, "path": name, "named": True}
        if rel:
            first = rel[0].path
            cands = sorted({p[:-len(first) - 1] for p in got if p.endswith("/" + first)})
            good = [c for c in cands if {f"{c}/{r.path}" for r in rel} <= set(got) - claimed]
            if len(good) != 1:
                raise ValueError(f"the sites of its {key} ({cls}) are not one block below "
                                 "one path")
            claimed |= {f"{good[0]}/{r.path}" for r in rel}
            place = {"class": cls, "path": good[0], "named": good[0] == name}
        if layout is not None:
            place["layout"] = layout
        out[key] = place
    return out


def _walk_order(keras: Any, build: Any, item: dict[str, Any], params: dict[str, float],
                subs: dict[str, str], models: dict[str, Any], classes: dict[str, type]
                ) -> dict[str, bool]:
    """``{"submodels_first": ...}``: the order of the holder's own sites and its sub-models'
    that the catalogue's read of ``item`` must give to list them as Keras walks them (built
    with every rate on). Raises ValueError when neither order does (they interleave)."""
    from dropctl.reader.semantics import expand_item

    marks = _markers(sorted(params))
    on = {k: dict.fromkeys(_rate_params(classes[c]), SUB_RATE) for k, c in subs.items()}
    cfg = {**item["tiny_config"], **marks}
    for key, rates in on.items():
        cfg[key] = {**cfg[key], "config": {**cfg[key]["config"], **rates}}
    keras.backend.clear_session()
    with fresh_names():
        model = _quiet_build(lambda: build({**item["tiny_config"], **marks}, on))
    walked = [s["path"] for s in built_sites(model, keras)]
    for first in (False, True):
        read = expand_item({**item, "submodels_first": first}, cfg, lookup=models.get)
        if read is not None and [s.path for s in read] == walked:
            return {"submodels_first": True} if first else {}
    raise ValueError("its own sites and its sub-models' interleave in Keras' walk")


def _outside(sites: list[dict[str, Any]], subs: dict[str, Any]) -> list[dict[str, Any]]:
    """The sites not below a sub-model's path (those are the sub-model's, read through it)."""
    heads = [f"{s['path']}/" for s in subs.values() if s["path"]]
    return [s for s in sites if not any(s["path"].startswith(h) for h in heads)]


def generate(tiny_source: dict[str, tuple[str, dict[str, Any]]],
             only: set[str] | None = None, why: dict[str, str] | None = None,
             task_source: Any = None,
             layer_source: dict[str, list[dict[str, Any]]] | None = None,
             layer_why: dict[str, str] | None = None) -> dict[str, Any]:
    """The catalogue document; ``only``: just these keras_hub classes (and the backbones
    their tasks and sub-models need), for :func:`merge`. ``why``: {backbone class: why it
    has no tiny config}; ``task_source(task class)``: (test file, backbone config) of the
    backbone a task's own test builds, for a task whose head does not fit the catalogued
    backbone (VGG's 7x7 head), or None. ``layer_source``/``layer_why``: the keras_hub
    layers' test configs (:func:`layer_test_configs`) and why a class has none."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import keras_hub

    backbones, tasks = _hub_classes(keras_hub)
    classes = {c.__name__: c for c in backbones}
    names = set(classes)
    if only is not None:
        needed = only | {getattr(getattr(t, "backbone_cls", None), "__name__", "")
                         for t in tasks if t.__name__ in only}
        grown = True
        while grown:  # and the sub-models of those, transitively
            more = {c for b in backbones if b.__name__ in needed
                    for c in submodels(tiny_source.get(b.__module__, ("", {}))[1], names).values()}
            grown = not more <= needed
            needed |= more
        backbones = [c for c in backbones if c.__name__ in needed]
        tasks = [c for c in tasks if c.__name__ in only]
    models: dict[str, Any] = {}
    unbuilt: dict[str, str] = {}
    tiny_of: dict[str, dict[str, Any]] = {}
    # a backbone holding another (CLIP's encoders) is built after it: passes until none moves
    pending = list(backbones)
    while pending:
        later = []
        for cls in pending:
            name = cls.__name__
            found = tiny_source.get(cls.__module__)
            subs = submodels(found[1], names) if found else {}
            if any(c not in models and c not in unbuilt and c != name for c in subs.values()):
                later.append(cls)
                continue
            try:
                models[name] = _catalogue_backbone(keras, cls, found, subs, models, why,
                                                   classes)
                tiny_of[name] = models[name]["tiny_config"]
            except Exception as exc:  # noqa: BLE001 - recorded with why, never skipped silently
                unbuilt[name] = exc.args[0] if isinstance(exc, _NotBuilt) else _reason(exc)
        if len(later) == len(pending):  # a cycle: never in keras_hub, named if it happens
            unbuilt.update({c.__name__: "its sub-models hold each other" for c in later})
            break
        pending = later
    for cls in tasks:
        name = cls.__name__
        bb_cls = getattr(cls, "backbone_cls", None)
        if bb_cls is None or bb_cls.__name__ not in tiny_of:
            unbuilt[name] = (f"its backbone {getattr(bb_cls, '__name__', '?')} has no tiny "
                             "config that builds")
            continue
        try:
            models[name] = _catalogue_task(keras, cls, bb_cls, models, task_source)
        except Exception as exc:  # noqa: BLE001 - recorded with why, never skipped silently
            unbuilt[name] = _reason(exc)
    layers, layers_unbuilt = hub_layers(keras, keras_hub, layer_source or {}, layer_why)
    return {
        "schema": SCHEMA,
        "generated_by": "scripts/gen_semantics.py",
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "backend": keras.backend.backend(),
        "keras_layers": keras_layers(keras),
        "hub_models": dict(sorted(models.items())),
        "unbuilt": dict(sorted(unbuilt.items())),
        "hub_layers": layers,
        "hub_layers_unbuilt": layers_unbuilt,
    }


class _NotBuilt(Exception):
    """A class the generator cannot build, with the one-line reason recorded for it."""


RENAMED = "dropctl_renamed"
"""The name a backbone is built with once more, to see whether its site paths carry its name
(DINOv2 names its blocks ``<name>_encoder``)."""


def _as_saved(keras: Any, build: Any) -> Any:
    """``build`` with the name the built model gets passed in, as loading its saved config
    does: HGNetV2ImageClassifier names its head after its ``name`` argument
    (``hgnetv2_image_classifier`` when there is none) while Keras names the model
    ``hg_net_v2_image_classifier``, which the saved config then carries."""
    keras.backend.clear_session()
    with fresh_names():
        name = _quiet_build(lambda: build({})).name
    return lambda kw, *more: build({"name": name, **kw}, *more)


def _named_paths(keras: Any, build: Any, tiny: dict[str, Any], params: dict[str, float]
                 ) -> dict[str, Any]:
    """``{"named_paths": the model's name}`` when its site paths carry it (built once more
    named :data:`RENAMED`, each build in a fresh process's names), plus ``"name_prefix":
    True`` when the renamed build's paths are the first build's with the name at their start
    swapped (DINOv2's ``<name>_embeddings/dropout``): the reader then reads a model of any
    name. Empty when the paths do not carry the name."""
    marks = _markers(sorted(params))
    built = []
    for extra in ({}, {"name": RENAMED}):
        keras.backend.clear_session()
        with fresh_names():
            built.append(_quiet_build(lambda e=extra: build({**tiny, **marks, **e})))
    paths = [[s["path"] for s in built_sites(m, keras)] for m in built]
    if paths[0] == paths[1]:
        return {}
    name = str(built[0].name)
    swapped = [RENAMED + p[len(name):] if p.startswith(name) else p for p in paths[0]]
    return {"named_paths": name, **({"name_prefix": True} if swapped == paths[1] else {})}


def _catalogue_backbone(keras: Any, cls: type, found: tuple[str, dict[str, Any]] | None,
                        subs: dict[str, str], models: dict[str, Any],
                        why: dict[str, str] | None, classes: dict[str, type]) -> dict[str, Any]:
    """The catalogue entry of one backbone built from its tiny config. ``named_paths``: the
    model name its site paths were built with, when they carry it (the static reader then
    reads only a model of that name)."""
    if found is None:
        raise _NotBuilt((why or {}).get(cls.__name__)
                        or "no tiny config in keras_hub's tests (literal or from a setUp)")
    missing = sorted(c for c in subs.values() if c not in models)
    if missing:
        raise _NotBuilt(f"its sub-model {missing[0]} did not build")
    test_file, tiny = found
    params = _rate_params(cls)

    def plain(kw: dict[str, Any], sub: dict[str, dict[str, float]] | None = None,
              c: type = cls) -> Any:
        off = {k: dict.fromkeys(_rate_params(classes[s]), 0.0) for k, s in subs.items()}
        return c(**build_kwargs({**tiny, **kw}, sub or off))

    build = _as_saved(keras, plain)
    entry = catalogue_model(keras, build, tiny, params)
    out = {"module": cls.__module__, "kind": "backbone", "params": params,
           "tiny_config": tiny, "tiny_source": test_file, **entry}
    if subs:
        placed = _submodel_paths(keras, build, found, params, subs, models, why, classes)
        out["submodels"] = placed
        out["sites"] = _outside(entry["sites"], placed)
        out["variants"] = {k: _outside(v, placed) for k, v in entry["variants"].items()}
        out.update(_walk_order(keras, build, out, params, subs, models, classes))
    if out["sites"]:
        out.update(_named_paths(keras, build, tiny, params))
    return out


def _catalogue_task(keras: Any, cls: type, bb_cls: type, models: dict[str, Any],
                    task_source: Any) -> dict[str, Any]:
    """The catalogue entry of one task: its head's sites on the catalogued backbone, else on
    the backbone its own test builds (kept as ``backbone_layout``, a backbone entry), with the
    test's head arguments when the defaults do not fit it (VGG's ``pooling="flatten"``:
    ``task_kwargs``, which a saved head must then have)."""
    bb_name = bb_cls.__name__
    params = _rate_params(cls)
    extra = _task_kwargs(cls)

    def plain(kw: dict[str, Any], bb_cfg: dict[str, Any], e: dict[str, Any]) -> Any:
        return cls(backbone=bb_cls(**build_kwargs(bb_cfg)), **e, **kw)

    def build(kw: dict[str, Any], bb_cfg: dict[str, Any], e: dict[str, Any]) -> Any:
        return _as_saved(keras, lambda k: plain(k, bb_cfg, e))(kw)

    layout = None
    try:
        entry = catalogue_model(
            keras, lambda kw: build(kw, models[bb_name]["tiny_config"], extra), {}, params)
        bb_cfg = models[bb_name]["tiny_config"]
    except Exception as first:
        found = task_source(cls) if task_source is not None else None
        if found is None:
            raise first from None
        test_file, bb_cfg, test_kwargs = found
        bb_params = _rate_params(bb_cls)
        layout = {"module": bb_cls.__module__, "kind": "backbone", "params": bb_params,
                  "tiny_config": bb_cfg, "tiny_source": test_file,
                  **catalogue_model(keras, lambda kw: bb_cls(**build_kwargs(kw)), bb_cfg,
                                    bb_params)}
        try:
            entry = catalogue_model(keras, lambda kw: build(kw, bb_cfg, extra), {}, params)
        except Exception:  # noqa: BLE001 - the head needs the test's arguments too
            extra = {**extra, **{k: v for k, v in test_kwargs.items() if k not in params}}
            entry = catalogue_model(keras, lambda kw: build(kw, bb_cfg, extra), {}, params)
    backbone_sites = (layout or models[bb_name])["sites"]
    own = [s for s in entry["sites"] if not any(
        s["path"].endswith("/" + b["path"]) for b in backbone_sites)]
    out = {"module": cls.__module__, "kind": "task", "backbone": bb_name, "params": params,
           "task_kwargs": extra, "sites": own, "count_keys": {}}
    if layout is not None:
        out["backbone_layout"] = layout
    if own:
        out.update(_named_paths(keras, lambda kw: build(kw, bb_cfg, extra), {}, params))
    return out


def task_configs(files: dict[str, str]) -> Any:
    """``task_source`` for :func:`generate`: from a task's own test (``<task module>_test.py``)
    ``setUp``, (test file, the config of the backbone in its ``init_kwargs``, its other
    JSON arguments), or None."""
    def find(cls: type) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        import keras

        name = cls.__module__.replace(".", "/") + "_test.py"
        if name not in files:
            return None
        for case_cls in _test_cases(name, files[name]):
            kwargs = getattr(_set_up(case_cls, keras), "init_kwargs", None) or {}
            backbone = kwargs.get("backbone")
            if isinstance(backbone, keras.layers.Layer):
                rest = {k: v for k, v in kwargs.items() if k not in ("backbone", "preprocessor")
                        and (v is None or isinstance(v, str | int | float | bool))}
                return name, _serialised(backbone.get_config(), keras), rest
        return None

    return find


def _recorded_task_configs(doc: dict[str, Any]) -> Any:
    """``task_source`` from a catalogue: the backbone layouts (and head arguments) its tasks
    recorded."""
    def find(cls: type) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        item = doc["hub_models"].get(cls.__name__, {})
        layout = item.get("backbone_layout")
        if layout is None:
            return None
        return layout["tiny_source"], layout["tiny_config"], dict(item["task_kwargs"])

    return find


# ---- other versions: what they build, kept beside this catalogue ------------------------------
def built_paths(keras: Any, build: Any, tiny: dict[str, Any], params: dict[str, float]
                ) -> list[str]:
    """The site paths of one build with every rate parameter on (the catalogue's ``sites``
    are made the same way: :func:`catalogue_model`'s ``full``)."""
    return built_calls(keras, build, tiny, params, calls=False)[0]


def built_calls(keras: Any, build: Any, tiny: dict[str, Any], params: dict[str, float],
                calls: bool = True) -> tuple[list[str], Calls | str]:
    """:func:`built_paths`, and what a ``training=True`` call of that build measures
    (:func:`training_calls`), as :func:`catalogue_model`'s ``full`` measures it."""
    marks = _markers(sorted(params))
    keras.backend.clear_session()
    with fresh_names():
        model = _quiet_build(lambda: build({**tiny, **marks}))
    layers: dict[str, Any] = {}
    paths = [s["path"] for s in built_sites(model, keras, layers)]
    return paths, (training_calls(model, keras, layers) if calls and paths
                   else Calls(set(), {}))


def _accepted(cls: type, cfg: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``cfg`` the installed ``cls`` takes: all of them when its constructor has
    ``**kwargs`` (Keras' own ``name``/``trainable``, EfficientNet's legacy
    ``width_coefficient``; an unknown one then fails the build, recorded with why), else its
    named parameters'."""
    takes = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in takes.values()):
        return dict(cfg)
    return {k: v for k, v in cfg.items() if k in takes}


def record(current: dict[str, Any],
           tiny_source: dict[str, tuple[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
    """What the *installed* keras (and keras_hub, if it imports) build, for the catalogue's
    ``history``: keras' layer classes with a rate, and for every keras_hub class of
    ``current`` the site paths its tiny config builds here (keys the installed signature does
    not take are left out and listed; a class this keras_hub lacks is ``absent``), which of
    them a ``training=True`` call never calls (``hub_dead``) or raises in (``hub_fails``, with
    Keras' reason; ``hub_calls_unmeasured``: why no call could be made), and its rate
    parameters. The classes with a rate that ``current`` lacks (a newer keras_hub's) get full
    catalogue entries, built from ``tiny_source`` (this keras_hub's tests: ``--hub-source``),
    so the static reader knows them too."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    out: dict[str, Any] = {"keras": keras.__version__, "backend": keras.backend.backend(),
                           "keras_layers": keras_layers(keras)}
    try:
        import keras_hub
    except ImportError:
        return out
    backbones, tasks = _hub_classes(keras_hub)
    here = {c.__name__ for c in [*backbones, *tasks]}
    known = set(current["hub_models"]) | set(current["unbuilt"])
    paths: dict[str, list[str]] = {}
    dead: dict[str, list[str]] = {}
    fails: dict[str, dict[str, str]] = {}
    unmeasured: dict[str, str] = {}
    unbuilt: dict[str, str] = {}

    def measured(name: str, keep: list[str], got: Calls | str) -> None:
        if isinstance(got, str):
            unmeasured[name] = got
            return
        if got.dead & set(keep):
            dead[name] = [p for p in keep if p in got.dead]
        if set(got.fails) & set(keep):
            fails[name] = {p: got.fails[p] for p in keep if p in got.fails}
    dropped: dict[str, list[str]] = {}
    tiny_of: dict[str, dict[str, Any]] = {}
    order = sorted(current["hub_models"].items(), key=lambda kv: (kv[1]["kind"] != "backbone",
                                                                  kv[0]))
    for name, item in order:
        cls = getattr(keras_hub.models, name, None)
        if not isinstance(cls, type) or name not in here:
            continue
        params = _rate_params(cls)
        try:
            if item["kind"] == "backbone":
                tiny = _accepted(cls, item["tiny_config"])
                if len(tiny) < len(item["tiny_config"]):
                    dropped[name] = sorted(set(item["tiny_config"]) - set(tiny))
                # built as generate() builds: named as its saved config names it, and the
                # sub-models' sites left out (the catalogue reads them through their entries)
                got, calls = built_calls(keras, _as_saved(keras, lambda kw, c=cls, t=tiny: c(
                    **build_kwargs({**t, **kw}))), {}, params)
                heads = [f"{sub['path']}/" for sub in (item.get("submodels") or {}).values()
                         if sub["path"]]
                paths[name] = [p for p in got if not any(p.startswith(h) for h in heads)]
                measured(name, paths[name], calls)
                tiny_of[name] = tiny
                continue
            bb = item["backbone"]
            bb_cls = getattr(keras_hub.models, bb, None)
            if bb not in tiny_of or bb_cls is None:
                unbuilt[name] = f"its backbone {bb} did not build"
                continue
            # the backbone and head arguments the task was catalogued with (VGG's own)
            bb_tiny = (item.get("backbone_layout") or {}).get("tiny_config") or tiny_of[bb]
            takes = inspect.signature(cls.__init__).parameters
            extra = {**_task_kwargs(cls), **{k: v for k, v in item.get("task_kwargs", {}).items()
                                             if k in takes}}

            def build(kw: dict[str, Any], c: type = cls, b: type = bb_cls,
                      e: dict[str, Any] = extra, t: dict[str, Any] = bb_tiny) -> Any:
                return c(backbone=b(**build_kwargs(t)), **e, **kw)

            got, calls = built_calls(keras, _as_saved(keras, build), {}, params)
            paths[name] = [p for p in got if not any(p.endswith("/" + b) for b in paths[bb])]
            measured(name, paths[name], calls)
        except Exception as exc:  # noqa: BLE001 - recorded with why, never skipped silently
            unbuilt[name] = _reason(exc)
    new_classes = sorted(n for n in here - known if _rate_params(getattr(keras_hub.models, n)))
    added: dict[str, Any] = {"hub_models": {}, "unbuilt": {}}
    if new_classes:
        if tiny_source is None:  # the tiny configs the catalogue (and its history) hold
            entries = [*current["hub_models"].values(), *(
                m for r in (current.get("history") or {}).get("keras_hub", {}).values()
                for m in (r.get("hub_models") or {}).values())]
            tiny_source = {m["module"]: (m["tiny_source"], m["tiny_config"])
                           for m in entries if m["kind"] == "backbone"}
        part = generate(tiny_source, set(new_classes))
        added = {k: {n: v for n, v in part[k].items() if n in new_classes}
                 for k in ("hub_models", "unbuilt")}
    out.update({
        "keras_hub": keras_hub.__version__,
        "hub_params": {n: _rate_params(getattr(keras_hub.models, n))
                       for n in sorted(here & set(current["hub_models"]))},
        "hub_models": added["hub_models"],
        "new_unbuilt": added["unbuilt"],
        "hub_paths": paths,
        "hub_dead": dead,
        "hub_fails": fails,
        "hub_calls_unmeasured": unmeasured,
        "unbuilt": unbuilt,
        "dropped_keys": dropped,
        "absent": sorted(n for n in current["hub_models"] if n not in here),
        "not_catalogued": new_classes,
    })
    return out


def record_of(doc: dict[str, Any]) -> dict[str, Any]:
    """A catalogue's own versions as a record (kept in ``history`` when the catalogue moves on
    to a newer keras or keras_hub)."""
    return {"keras": doc["keras"], "backend": doc["backend"], "keras_layers": doc["keras_layers"],
            "keras_hub": doc["keras_hub"], "unbuilt": {}, "dropped_keys": {}, "absent": [],
            "not_catalogued": [], "hub_models": {}, "new_unbuilt": {},
            "hub_params": {n: m["params"] for n, m in doc["hub_models"].items()},
            "hub_paths": {n: [s["path"] for s in m["sites"]] for n, m in doc["hub_models"].items()},
            "hub_dead": {n: dead for n, m in doc["hub_models"].items() if (dead := [
                s["path"] for s in m["sites"] if s.get("called") is False])},
            "hub_fails": {n: fails for n, m in doc["hub_models"].items() if (fails := {
                s["path"]: s["training_fails"] for s in m["sites"] if s.get("training_fails")})},
            "hub_calls_unmeasured": {n: m["calls_unmeasured"] for n, m in doc["hub_models"].items()
                                     if m.get("calls_unmeasured")}}


def with_history(doc: dict[str, Any], old: dict[str, Any] | None,
                 records: list[dict[str, Any]]) -> dict[str, Any]:
    """``doc`` with the ``history`` of ``old`` kept, ``records`` added (a version's record
    replaces an earlier one of the same version), and ``old``'s own versions added when
    ``doc`` was made with newer ones. ``history.keras[V]``: keras V's layer classes with a
    rate; ``history.keras_hub[V]``: the site paths keras_hub V builds for each class, and
    which of them its training=True call never calls or raises in."""
    hist = json.loads(json.dumps((old or {}).get("history") or {"keras": {}, "keras_hub": {}}))
    if old is not None and old.get("keras_hub") and (
            old["keras"], old["keras_hub"]) != (doc["keras"], doc["keras_hub"]):
        records = [record_of(old), *records]
    for rec in records:
        if rec["keras"] != doc["keras"]:
            hist["keras"][rec["keras"]] = {"backend": rec["backend"],
                                           "keras_layers": rec["keras_layers"]}
        if rec.get("keras_hub") and rec["keras_hub"] != doc["keras_hub"]:
            hist["keras_hub"][rec["keras_hub"]] = {
                k: rec[k] for k in ("keras", "hub_paths", "hub_params", "hub_models",
                                    "new_unbuilt", "unbuilt", "dropped_keys", "absent",
                                    "not_catalogued", "hub_dead", "hub_fails",
                                    "hub_calls_unmeasured") if k in rec}
    hist["keras"].pop(doc["keras"], None)
    hist["keras_hub"].pop(doc["keras_hub"], None)
    return {**doc, "history": hist}


def merge(old: dict[str, Any], part: dict[str, Any], only: set[str]) -> dict[str, Any]:
    """``old`` with the entries of ``only`` taken from ``part`` (a ``generate(..., only)``)."""
    models = {k: v for k, v in old["hub_models"].items() if k not in only}
    unbuilt = {k: v for k, v in old["unbuilt"].items() if k not in only}
    models.update({k: v for k, v in part["hub_models"].items() if k in only})
    unbuilt.update({k: v for k, v in part["unbuilt"].items() if k in only})
    return {**part, "hub_models": models, "unbuilt": unbuilt,
            "keras_layers": old["keras_layers"] if only else part["keras_layers"]}


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Where two catalogue documents differ, one ``path: old -> new`` line per leaf (lists
    element by element), so a stale or flaky entry names itself."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [line for k in sorted({*old, *new}, key=str)
                for line in differences(old.get(k, "<absent>"), new.get(k, "<absent>"),
                                        f"{where}.{k}" if where else str(k))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True))
                for line in differences(a, b, f"{where}[{i}]")]
    return [] if old == new else [f"{where}: {json.dumps(old)[:80]} -> {json.dumps(new)[:80]}"]


def dumps(doc: dict[str, Any]) -> str:
    """The one text form of the catalogue (sorted keys: no dict order leaks into the file)."""
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def hub_configs(source: Path) -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, str],
                                       Any]:
    """(tiny configs, why not, task_source) from a keras-hub checkout: the literal configs,
    then those from running the setUp of the tests that have none."""
    files = _hub_test_files(source)
    found = tiny_configs(files)
    ran, why = setup_configs(files, set(found))
    return {**found, **ran}, why, task_configs(files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hub-source", type=Path,
                    help="keras-hub checkout or git dir holding *_backbone_test.py")
    ap.add_argument("--check", action="store_true",
                    help="rebuild and exit 1 when the committed catalogue differs")
    ap.add_argument("--only", metavar="CLASS[,CLASS]",
                    help="rebuild (or check) only these keras_hub classes; the rest is kept")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--record", type=Path, metavar="FILE",
                    help="write what the installed keras/keras_hub build for the catalogue's "
                         "classes to FILE (run in a venv with another version), then stop")
    ap.add_argument("--history", type=Path, nargs="+", metavar="FILE",
                    help="add --record files to the catalogue's history (no rebuild)")
    args = ap.parse_args(argv)
    old = json.loads(args.out.read_text()) if args.out.exists() else None
    if args.record is not None or args.history is not None:
        if old is None:
            ap.error("--record and --history need an existing catalogue")
        if args.record is not None:
            rec = record(old, None if args.hub_source is None else
                         hub_configs(args.hub_source)[0])
            args.record.write_text(dumps(rec))
            print(f"{args.record}: keras {rec['keras']}" + (
                f", keras_hub {rec['keras_hub']} ({len(rec['hub_paths'])} classes built)"
                if rec.get("keras_hub") else ""), file=sys.stderr)
            return 0
        records = [json.loads(f.read_text()) for f in args.history]
        args.out.write_text(dumps(with_history({k: v for k, v in old.items() if k != "history"},
                                               old, records)))
        print(f"{args.out}: history of " + ", ".join(
            f"keras {r['keras']}" + (f" / keras_hub {r['keras_hub']}" if r.get("keras_hub")
                                     else "") for r in records), file=sys.stderr)
        return 0
    layer_why: dict[str, str] = {}
    if args.hub_source is not None:
        source, why, task_source = hub_configs(args.hub_source)
        layer_source = layer_test_configs({k: v for root in LAYER_TEST_ROOTS
                                           for k, v in _hub_test_files(args.hub_source,
                                                                       root).items()})
    elif old is not None:
        source = {m["module"]: (m["tiny_source"], m["tiny_config"])
                  for m in old["hub_models"].values() if m["kind"] == "backbone"}
        why = dict(old["unbuilt"])
        task_source = _recorded_task_configs(old)
        layer_source = _recorded_layer_configs(old)
        layer_why = dict(old.get("hub_layers_unbuilt") or {})
    else:
        ap.error("--hub-source is needed the first time")
    only = {n.strip() for n in args.only.split(",") if n.strip()} if args.only else None
    if only is not None and old is None:
        ap.error("--only updates an existing catalogue")
    doc = generate(source, only, why, task_source, layer_source, layer_why)
    if only is not None:
        assert old is not None
        unknown = sorted(only - set(doc["hub_models"]) - set(doc["unbuilt"]))
        if unknown:
            ap.error(f"--only: not a keras_hub backbone or task with rates: {', '.join(unknown)}")
        doc = merge(old, doc, only)
    doc = with_history(doc, old, [])
    text = dumps(doc)
    if args.check:
        # Compared as documents (the text follows from them: dumps), reported leaf by leaf.
        moved = differences(old or {}, doc)
        if moved:
            print(f"{args.out} is stale for keras {doc['keras']}, keras_hub {doc['keras_hub']} "
                  f"({len(moved)} difference(s)): run scripts/gen_semantics.py", file=sys.stderr)
            for line in moved[:20]:
                print(f"  {line}", file=sys.stderr)
            return 1
        if old is not None and args.out.read_text() != text:
            print(f"{args.out} is not in the generator's format: run scripts/gen_semantics.py",
                  file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"{args.out}: {len(doc['hub_models'])} keras_hub classes, "
          f"{len(doc['unbuilt'])} not built", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
