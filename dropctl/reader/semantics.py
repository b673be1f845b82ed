"""The generated semantics catalogue: which keras_hub classes build which dropout sites.

``dropctl/reader/data/semantics.json`` is written by ``scripts/gen_semantics.py`` from the
installed keras and keras_hub (never by hand): for each keras_hub backbone and task it holds the
constructor parameters that set a rate, and the sites Keras builds from keras_hub's own tiny
test config (their ``_flatten_layers()`` paths, the parameter and factor that set each rate,
and the templates that repeat once per layer, ``transformer_layer_{i}/feedforward_dropout``).
This module reads it with the standard library only (no Keras), for ``inspect``, ``check``,
``convert`` and the runtime's site list alike.

:func:`expand` turns one saved config into its sites. It is exact when the saved config's
layout is the catalogued one up to the verified count keys (``num_layers``: the generator
built one more layer and the templates predicted it); otherwise it returns None and the caller
reports the model as one site it cannot read (DC402), never a guess.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

SCHEMA = 1
_LAYOUT_KEY = re.compile(r"layers|depth|repeat|stack|block|stage|expert")
"""Config keys that can change which layers a keras_hub constructor builds (by name)."""


@dataclass(frozen=True)
class CatalogueSite:
    """One stochastic layer a keras_hub class builds, relative to the model."""

    path: str
    """Layer names below the model (``transformer_layer_0/attention/attention_dropout``)."""
    class_name: str
    """The class Keras builds there (``Dropout``, ``CachedMultiHeadAttention``, ``DropPath``)."""
    kind: str
    """A :class:`dropctl.reader.report.SiteKind` value."""
    param: str | None
    """The constructor parameter that sets the rate; None for a rate fixed in code."""
    rate: float
    """The rate Keras gives the layer for this config (parameter x the schedule's factor)."""
    owner: tuple[str, ...] = ()
    """Config keys from the model's config to the dict holding ``param`` (``("image_encoder",
    "config")`` for a sub-model's site)."""
    called: bool = True
    """False when the generator measured that Keras never calls the layer, even in
    ``model(x, training=True)``: built but dead (keras_hub's GemmaDecoderBlock builds a
    ``feedforward_dropout`` its ``call`` never uses), so it acts in no phase."""
    fails: str | None = None
    """Keras' reason when the generator measured that the layer's own ``call`` raises under
    ``training=True`` (keras_hub 0.32's DINOV2DropPath: its noise shape keeps the symbolic
    build's batch ``None``), so ``fit()`` and ``model(x, training=True)`` fail there."""
    noise: str | None = None
    """What the generator measured when the layer's training noise is not a drop (each
    multiplier 0 or 1 / (1 - rate), mean 1), as one sentence: keras_hub 0.32's DINOV2DropPath
    and DINOV3DropPath multiply by continuous values with mean above 1."""


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    """The catalogue document (``schema``, ``keras``, ``keras_hub``, ``hub_models``...)."""
    text = resources.files("dropctl.reader").joinpath("data/semantics.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"semantics.json schema {doc.get('schema')}, dropctl reads {SCHEMA}")
    return doc


def versions() -> tuple[str, str]:
    """(keras, keras_hub) versions the catalogue was generated with."""
    doc = catalogue()
    return str(doc["keras"]), str(doc["keras_hub"])


def entry(class_name: str) -> dict[str, Any] | None:
    """The catalogue entry of a keras_hub class (backbone or task), or None: the catalogue's
    keras_hub's, else the newest recorded release's that has the class (a class a later
    keras_hub added, built there by ``gen_semantics.py --record``)."""
    found = catalogue()["hub_models"].get(class_name)
    if found is None:
        for _, rec in sorted(history().get("keras_hub", {}).items(),
                             key=lambda kv: _version_key(kv[0]), reverse=True):
            found = (rec.get("hub_models") or {}).get(class_name)
            if found is not None:
                break
    return found if isinstance(found, dict) else None


def _version_key(v: str) -> list[tuple[int, str]]:
    """Sorts ``0.31.1 < 0.32.0 < 0.33.0.dev2026... < 0.33.0`` (numbers as numbers; a
    ``dev`` part sorts before the release it leads to)."""
    return [*((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.+]", v)), (0, "")]


def param_value(cfg: dict[str, Any], name: str, default: float) -> float:
    """A rate parameter as Keras would build it: the saved value, else the default."""
    v = cfg.get(name, default)
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else math.nan
    return default if v is None else math.nan


_RATE_KEY = re.compile(r"drop")
"""Config keys that set a drop rate (as the generator names them: ``dropout``, ``drop_path``)."""


def _serialised(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and isinstance(
        value.get("config"), dict)


def _layout_matches(item: dict[str, Any], cfg: dict[str, Any]) -> bool:
    """Whether the saved config builds the catalogued layout (count keys aside, when verified).
    A model whose site paths carry its name (``named_paths``) must have that name, unless
    the generator measured that the name is only their prefix (``name_prefix``: then
    :func:`_expand_own` swaps it for the saved one); a task
    head, the arguments it was catalogued with (VGG's ``pooling="flatten"``).
    A layer or model held in the config (CLIP's encoders, Gemma 3's vision encoder) must be
    the catalogued class with the catalogued layout, all its count keys included (the names
    Keras gives the holder's own layers count the ones built before them); one that is not a
    catalogued sub-model must keep its rates too (its sites are read as the holder's)."""
    tiny = item.get("tiny_config") or {}
    counts: dict[str, bool] = item.get("count_keys") or {}
    params = item.get("params") or {}
    subs: dict[str, Any] = item.get("submodels") or {}
    moved = [k for k in counts if cfg.get(k, tiny.get(k)) != tiny.get(k)]
    if len(moved) > 1:  # each count was verified alone
        return False
    named = item.get("named_paths")
    if (named is not None and not item.get("name_prefix")
            and cfg.get("name", tiny.get("name", named)) != named):
        return False  # its layers are named after the model (``<name>_encoder``)
    for key, value in (item.get("task_kwargs") or {}).items():
        if key not in ("preprocessor", "num_classes") and cfg.get(key, value) != value:
            return False  # a head built with other arguments than the catalogued one
    for key, value in tiny.items():
        if key == "dtype":  # a DTypePolicy (or its name): no layer depends on it
            continue
        if _serialised(value):
            if not _same_layout(value, cfg.get(key, value), rates=key not in subs):
                return False
            continue
        if key in params or not _LAYOUT_KEY.search(key):
            continue
        if counts.get(key) and isinstance(cfg.get(key), int):
            continue
        saved = cfg.get(key, value)
        if isinstance(saved, list | tuple):
            saved = list(saved)
        if saved != value:
            return False
    return True


def _same_layout(tiny: dict[str, Any], saved: Any, rates: bool) -> bool:
    """A serialised layer of a saved config against the catalogued one: same class, same
    layout keys (and rate keys when ``rates``), recursively."""
    if not _serialised(saved) or saved["class_name"] != tiny["class_name"]:
        return False
    mine, theirs = tiny["config"], saved["config"]
    for key, value in mine.items():
        got = theirs.get(key, value)
        if key == "dtype":
            continue
        if _serialised(value):
            if not _same_layout(value, got, rates):
                return False
        elif _LAYOUT_KEY.search(key) or (rates and _RATE_KEY.search(key)):
            if (list(got) if isinstance(got, list | tuple) else got) != value:
                return False
    return True


def _from(raw: dict[str, Any], rates: dict[str, float]) -> CatalogueSite:
    param = raw.get("param")
    scale = float(raw.get("scale") or 0.0)
    rate = scale if param is None else rates.get(param, 0.0) * scale
    fails = raw.get("training_fails")
    return CatalogueSite(raw["path"], raw["class"], raw["kind"], param, round(rate, 12),
                         called=raw.get("called", True) is not False,
                         fails=fails if isinstance(fails, str) and fails else None,
                         noise=_noise(raw.get("noise")))


def _noise(law: Any) -> str | None:
    """The sentence for a measured noise law (``{"rate", "min", "max", "mean"}``), else None."""
    if not isinstance(law, dict) or not all(isinstance(law.get(k), int | float)
                                            for k in ("rate", "min", "max", "mean")):
        return None
    return (f"its training noise is not a drop: Keras multiplied by {law['min']:.3g} to "
            f"{law['max']:.3g}, {law['mean']:.3g} on average, at rate {law['rate']:g} (a "
            f"drop multiplies by 0 or 1/(1-rate), 1 on average), so fit() and Monte Carlo "
            f"passes scale the input there instead of dropping it")


def set_keys(saved: dict[str, Any], where: str = "") -> set[str]:
    """The dotted keys of a serialised layer's ``config`` and ``build_config`` whose value is
    set (not None): what tells the ways of calling a keras_hub layer apart in a saved file
    (TransformerDecoder called with an ``encoder_sequence`` saves its shape). The generator
    records them with this same function."""
    out: set[str] = set()
    for k, v in saved.items():
        if not where and k not in ("config", "build_config"):
            continue
        key = f"{where}.{k}" if where else str(k)
        if isinstance(v, dict):
            out |= set_keys(v, key)
        elif v is not None:
            out.add(key)
    return out


def hub_layer(class_name: str) -> dict[str, Any] | None:
    """The catalogue entry of a keras_hub *layer* class (``TransformerEncoder``...), if any."""
    item = (catalogue().get("hub_layers") or {}).get(class_name)
    return item if isinstance(item, dict) else None


def opens(class_name: str) -> bool:
    """Whether a keras_hub layer's sites are layers inside it (``self_attention_dropout``):
    then every command names those; else the layer itself is its one site."""
    item = hub_layer(class_name)
    return item is not None and any(s["path"] for c in item["calls"] for s in c["sites"])


def hub_layer_sites(class_name: str, saved: dict[str, Any]) -> list[CatalogueSite] | None:
    """The sites of a saved keras_hub layer (its serialised dict: ``config``, ``build_config``)
    below its own path, from the way of calling it that the saved keys match (the call form
    with the most of its ``when`` keys set, at least one: a file from another Keras may save
    only some of them; else the default), or None when the class is not catalogued."""
    item = hub_layer(class_name)
    if item is None:
        return None
    raw = saved.get("config")
    cfg: dict[str, Any] = raw if isinstance(raw, dict) else {}
    have = set_keys(saved)
    call = max(item["calls"], key=lambda c: len(set(c["when"]) & have))  # ties: the first,
    # the default (no ``when``), which the generator puts first
    rates = {p: param_value(cfg, p, float(d or 0.0)) for p, d in item["params"].items()}
    return [_from(raw, rates) for raw in call["sites"]]


def render(template: dict[str, Any], i: int, n: int) -> str:
    """The path of layer ``i`` of ``n`` from a catalogue template.

    Each segment is ``[stem, mode, a, b, c]``: ``fixed`` is the stem itself; ``num`` is
    ``stem_k`` and ``counter`` is ``stem_k`` or the bare stem when k is 0 (Keras names the first
    layer of a name bare, then counts: ``dropout``, ``dropout_1``), with ``k = a*i + b*n + c``.
    """
    out = []
    for stem, mode, a, b, c in template["segments"]:
        if mode == "fixed":
            out.append(stem)
            continue
        k = a * i + b * n + c
        out.append(stem if mode == "counter" and k == 0 else f"{stem}_{k}")
    return "/".join(out)


def expand(class_name: str, cfg: dict[str, Any], max_sites: int = 100_000
           ) -> list[CatalogueSite] | None:
    """The sites a keras_hub class builds from ``cfg`` (rate > 0 only), or None when the class
    is not catalogued or ``cfg``'s layout is not the catalogued one."""
    item = entry(class_name)
    return None if item is None else expand_item(item, cfg, max_sites)


def expand_item(item: dict[str, Any], cfg: dict[str, Any], max_sites: int = 100_000,
                lookup: Callable[[str], dict[str, Any] | None] | None = None
                ) -> list[CatalogueSite] | None:
    """:func:`expand` for one catalogue entry; the sub-models it holds (``submodels``:
    CLIP's encoders) are expanded through their own entries (``lookup``, the catalogue's
    by default) below the path where Keras puts their layers, before or after the holder's
    own sites as Keras walks them (``submodels_first``)."""
    if not _layout_matches(item, cfg):
        return None
    inner: list[CatalogueSite] = []
    for key, sub in sorted((item.get("submodels") or {}).items()):
        nested = cfg.get(key, (item.get("tiny_config") or {}).get(key))
        sub_item = sub.get("layout") or (lookup or entry)(sub["class"])
        if sub_item is None or not isinstance(nested, dict) or not _serialised(nested):
            return None
        found = expand_item(sub_item, nested["config"], max_sites, lookup)
        if found is None:
            return None
        prefix = _prefix(sub, nested)
        if prefix is None:
            return None
        inner += [dataclasses.replace(s, path=f"{prefix}/{s.path}",
                                      owner=(key, "config", *s.owner)) for s in found]
    own = _expand_own(item, cfg, max_sites)
    # Keras walks the sub-models first when the holder calls them first (PARSeq's ViT)
    return (inner + own if item.get("submodels_first") else own + inner)[:max_sites]


def _prefix(sub: dict[str, Any], nested: dict[str, Any]) -> str | None:
    """Where a sub-model's layers are in its holder: its own name, else the recorded path
    (SegFormer wraps its encoder's layers in a ``functional`` model); None when it is named
    by its name and the saved config has none (unread rather than guessed)."""
    if not sub.get("named"):
        return str(sub["path"])
    name = nested["config"].get("name")
    return name if isinstance(name, str) and name else None


def _expand_own(item: dict[str, Any], cfg: dict[str, Any], max_sites: int
                ) -> list[CatalogueSite]:
    params: dict[str, float] = item.get("params") or {}
    rates = {p: param_value(cfg, p, d) for p, d in params.items()}
    on = sorted(p for p, r in rates.items() if not r == 0)
    variants: dict[str, list[dict[str, Any]]] = item.get("variants") or {}
    key = ",".join(on)
    if key in variants:
        raws = variants[key]
    else:
        raws = [s for s in item["sites"] if s.get("param") is None or s["param"] in on]
    tiny = item.get("tiny_config") or {}
    out: list[CatalogueSite] = []
    # Keras' layer walk: the sites before the first repeated block, then each block's sites
    # (layer 0's, layer 1's...), then the rest.
    # One loop per repeated block (its count key and the segment that carries the index:
    # Whisper's encoder layers all come before its decoder layers).
    blocks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for raw in raws:
        t = raw.get("template")
        if t is not None and t["per_layer"]:
            ident = json.dumps(t, sort_keys=True)
            if ident not in seen:
                seen.add(ident)
                blocks.setdefault(_block(t), []).append(raw)
    placed: set[tuple[str, str]] = set()
    for raw in raws:
        t = raw.get("template")
        if t is not None and t["per_layer"]:
            if _block(t) in placed:
                continue
            placed.add(_block(t))
            n = _count(cfg, tiny, t["repeat"], max_sites)
            for i in range(n):
                out += [_from({**b, "path": render(b["template"], i, n)}, rates)
                        for b in blocks[_block(t)]]
                if len(out) >= max_sites:
                    break
        elif t is not None:
            out.append(_from({**raw, "path": render(
                t, 0, _count(cfg, tiny, t["repeat"], max_sites))}, rates))
        else:
            out.append(_from(raw, rates))
    out = [s for s in out if not s.rate == 0][:max_sites]
    named, saved = item.get("named_paths"), cfg.get("name")
    if (item.get("name_prefix") and isinstance(named, str) and isinstance(saved, str) and saved
            and saved != named):
        # the generator measured that these paths start with the model's name and nothing
        # else moves with it (DINOv2's ``<name>_embeddings/dropout``)
        out = [dataclasses.replace(s, path=saved + s.path[len(named):])
               if s.path.startswith(named) else s for s in out]
    return out


def _block(template: dict[str, Any]) -> tuple[str, str]:
    """(count key, stem of the indexed segment): the repeated block a template belongs to."""
    head = "/".join(str(seg[0]) for seg in template["segments"]
                    if seg[1] == "num" and seg[2] == 1)
    return str(template["repeat"]), head.split("/", 1)[0]


def _count(cfg: dict[str, Any], tiny: dict[str, Any], key: str, cap: int) -> int:
    v = cfg.get(key, tiny.get(key))
    return min(v, cap) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0


@functools.lru_cache(maxsize=1)
def leaf_classes() -> dict[str, str]:
    """{class name: site kind} of the keras_hub classes that are sites themselves and are not
    Keras stock layers (``DropPath``: keras_hub's drop-path layers), from the catalogue."""
    doc = catalogue()
    stock = set(doc.get("keras_layers") or {})
    out: dict[str, str] = {}
    for item in doc["hub_models"].values():
        for raw in [*item.get("sites", []), *(s for v in (item.get("variants") or {}).values()
                                               for s in v)]:
            if raw["class"] not in stock and raw["kind"] != "attention":
                out[raw["class"]] = raw["kind"]
    return out


# ---- other keras and keras_hub versions (the catalogue's ``history``) -------------------------
@dataclass(frozen=True)
class PathChange:
    """Where another keras_hub version builds a class's sites at other paths than the
    catalogue's version (measured: ``scripts/gen_semantics.py --record`` built the same tiny
    config there and walked it)."""

    class_name: str
    keras_hub: str
    """The other version."""
    then: tuple[str, ...]
    """Site paths (relative to the model) that version builds and the catalogue's does not."""
    now: tuple[str, ...]
    """Site paths the catalogue's version builds and that version does not."""


def history() -> dict[str, Any]:
    """``{"keras": {V: {...}}, "keras_hub": {V: {...}}}``: what other versions build."""
    found = catalogue().get("history")
    return found if isinstance(found, dict) else {"keras": {}, "keras_hub": {}}


def recorded_versions() -> tuple[list[str], list[str]]:
    """(keras, keras_hub) versions the catalogue knows, its own included, oldest first."""
    keras_v, hub_v = versions()
    hist = history()
    return (sorted({keras_v, *hist.get("keras", {})}, key=_version_key),
            sorted({hub_v, *hist.get("keras_hub", {})}, key=_version_key))


@functools.lru_cache(maxsize=256)
def path_changes(class_name: str) -> tuple[PathChange, ...]:
    """The recorded keras_hub versions that build ``class_name``'s sites at other paths."""
    item = entry(class_name)
    if item is None:
        return ()
    now = [s["path"] for s in item.get("sites", [])]
    out = []
    for version, rec in sorted(history().get("keras_hub", {}).items()):
        then = (rec.get("hub_paths") or {}).get(class_name)
        if then is None or set(then) == set(now):
            continue
        out.append(PathChange(class_name, version, tuple(p for p in then if p not in now),
                              tuple(p for p in now if p not in then)))
    return tuple(out)


@dataclass(frozen=True)
class CallChange:
    """Where another keras_hub version's ``model(x, training=True)`` calls a class's sites
    otherwise than the catalogue's version (measured: ``scripts/gen_semantics.py --record``
    called the same tiny build there), on the paths both versions build."""

    class_name: str
    keras_hub: str
    """The other version."""
    dead_then: tuple[str, ...]
    """Sites that version never calls and the catalogue's version calls."""
    dead_now: tuple[str, ...]
    """Sites the catalogue's version never calls and that version calls."""
    fails_then: tuple[str, ...]
    """Sites whose call raises under training=True in that version, not in the catalogue's."""
    fails_now: tuple[str, ...]
    """Sites whose call raises in the catalogue's version, not in that one."""


@functools.lru_cache(maxsize=256)
def call_changes(class_name: str) -> tuple[CallChange, ...]:
    """The recorded keras_hub versions whose training=True call of ``class_name`` never calls,
    or raises in, other sites than the catalogue's version (a record without the measurement,
    or a version or catalogue that could not make the call, claims nothing)."""
    item = entry(class_name)
    if item is None or item.get("calls_unmeasured"):
        return ()
    sites = item.get("sites", [])
    now_dead = {s["path"] for s in sites if s.get("called") is False}
    now_fails = {s["path"] for s in sites if s.get("training_fails")}
    out = []
    for version, rec in sorted(history().get("keras_hub", {}).items()):
        then = (rec.get("hub_paths") or {}).get(class_name)
        if then is None or "hub_dead" not in rec or class_name in (
                rec.get("hub_calls_unmeasured") or {}):
            continue
        built_then = set(then)
        both = [s["path"] for s in sites if s["path"] in built_then]
        dead = set(rec["hub_dead"].get(class_name, ()))
        fails = set((rec.get("hub_fails") or {}).get(class_name, {}))
        change = CallChange(
            class_name, version, tuple(p for p in both if p in dead - now_dead),
            tuple(p for p in both if p in now_dead - dead),
            tuple(p for p in both if p in fails - now_fails),
            tuple(p for p in both if p in now_fails - fails))
        if change.dead_then or change.dead_now or change.fails_then or change.fails_now:
            out.append(change)
    return tuple(out)


def layer_versions(class_name: str) -> list[str]:
    """The recorded keras versions whose ``keras.layers`` has ``class_name`` with a rate."""
    keras_v, _ = versions()
    out = [keras_v] if class_name in catalogue()["keras_layers"] else []
    for version, rec in history().get("keras", {}).items():
        if class_name in (rec.get("keras_layers") or {}):
            out.append(version)
    return sorted(out, key=_version_key)
