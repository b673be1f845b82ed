"""Property-based fuzzing of the static reader and walker: generated and mutated model configs.

The property: ``dropctl.inspect`` on any file either returns an InspectReport (which the check
policies can judge) or raises dropctl's own ``DropctlError``; nothing else escapes (no
KeyError, TypeError, RecursionError...). Configs are generated from Keras-shaped pieces
(class names, wrapper keys, every ``inbound_nodes`` form, Lambda payloads) and made by
mutating the bundled samples' real configs (delete, retype, duplicate, deepen nodes).

    .venv/bin/python -m bench.fuzz_reader            # 10,000 cases, prints a summary
    .venv/bin/python -m bench.fuzz_reader -n 50000

``tests/reader/test_fuzz_reader.py`` runs the same property with a few hundred cases by default and
10,000 under ``-m slow``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]

import dropctl  # noqa: E402
from dropctl.errors import DropctlError  # noqa: E402
from dropctl.policy.config import Policy  # noqa: E402
from dropctl.policy.evaluate import evaluate  # noqa: E402
from dropctl.reader.artifact import read_artifact  # noqa: E402

CLASS_NAMES = [
    "Sequential", "Functional", "Model", "InputLayer", "Dense", "Dropout", "SpatialDropout2D",
    "GaussianDropout", "GaussianNoise", "AlphaDropout", "LSTM", "GRU", "SimpleRNN", "RNN",
    "LSTMCell", "StackedRNNCells", "Bidirectional", "TimeDistributed", "MultiHeadAttention",
    "Lambda", "__lambda__", "__keras_tensor__", "BatchNormalization", "TFSMLayer",
    "TorchModuleWrapper", "StringLookup", "StochasticDepth", "MyDropout", "AlwaysDropout", "",
]
KEYS = [
    "class_name", "config", "layers", "layer", "backward_layer", "cell", "cells", "name",
    "inbound_nodes", "input_layers", "output_layers", "rate", "p", "dropout", "recurrent_dropout",
    "dropout_W", "dropout_U", "stddev", "trainable", "function", "function_type", "arguments",
    "module", "registered_name", "args", "kwargs", "training", "keras_history", "vocabulary",
    "code", "value", "closure", "defaults", "build_config", "drop_path_rate", "noise_shape",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=True),
    st.sampled_from(CLASS_NAMES), st.text(max_size=12),
    st.sampled_from(["4wEAAAAAAAAA", "keras.layers", "evil.mod", "dropout", "/etc/passwd",
                     "lambda", "function", "raw"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=6),
    ),
    max_leaves=60,
)


@st.composite
def layer_like(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """A Keras-shaped layer entry whose fields may be of the wrong type."""
    cfg: dict[str, Any] = draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5))
    if depth < 3 and draw(st.booleans()):
        key = draw(st.sampled_from(["layers", "layer", "backward_layer", "cell", "cells"]))
        kids = draw(st.lists(layer_like(depth + 1), max_size=3))
        cfg[key] = kids if key in ("layers", "cells") or draw(st.booleans()) else (
            kids[0] if kids else None)
    entry: dict[str, Any] = {"class_name": draw(st.sampled_from(CLASS_NAMES)), "config": cfg}
    if draw(st.booleans()):
        entry["inbound_nodes"] = draw(st.one_of(
            st.just([[["x", 0, 0]]]), st.just([[["x", 0, 0, {"training": True}]]]),
            st.just([{"args": [{"class_name": "__keras_tensor__",
                                "config": {"keras_history": ["x", 0, 0]}}],
                      "kwargs": {"training": True}}]),
            json_values,
        ))
    if draw(st.booleans()):
        entry["module"] = draw(st.sampled_from(["keras.layers", "keras", "evil", None, 3]))
    if draw(st.booleans()):
        entry["name"] = draw(st.one_of(st.text(max_size=8), json_values))
    return entry


def _samples() -> list[Any]:
    out = []
    for p in sorted((ROOT / "sample_models").glob("*")):
        if p.suffix in (".keras", ".h5", ".json") and p.name != "MANIFEST.json":
            try:
                out.append(read_artifact(p).model_config)
            except DropctlError:
                pass
    return out or [{"class_name": "Sequential", "config": {"layers": []}}]


SAMPLE_CONFIGS = _samples()


def _nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) pairs of every node, iteratively."""
    out, stack = [], [doc]
    while stack and len(out) < 20_000:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else (
            enumerate(node) if isinstance(node, list) else ())
        for k, v in items:
            out.append((node, k))
            if isinstance(v, dict | list):
                stack.append(v)
    return out


@st.composite
def mutated_sample(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(SAMPLE_CONFIGS)))
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(1, 6))):
        nodes = _nodes(doc)
        if not nodes:
            break
        container, key = rnd.choice(nodes)
        op = draw(st.sampled_from(["replace", "delete", "wrap", "dup", "layer"]))
        if op == "replace":
            container[key] = draw(json_values)
        elif op == "delete":
            if isinstance(container, dict):
                del container[key]
            else:
                container.pop(key)
        elif op == "wrap":
            container[key] = [container[key]] if draw(st.booleans()) else {"config": container[key]}
        elif op == "dup" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        else:
            container[key] = draw(layer_like())
    return doc


documents = st.one_of(
    mutated_sample(), layer_like(), json_values,
    st.builds(lambda layers: {"class_name": "Sequential", "config": {"layers": layers}},
              st.lists(layer_like(), max_size=4)),
    st.builds(lambda layers: {"class_name": "Sequential", "config": layers},  # Keras 1 list form
              st.lists(layer_like(), max_size=4)),
)


class Outcome:
    def __init__(self) -> None:
        self.ok = 0
        self.rejected = 0


def check_document(doc: Any, path: Path, outcome: Outcome | None = None) -> None:
    """The property. Anything but success or DropctlError propagates and fails the run."""
    try:
        text = json.dumps(doc, allow_nan=True)
    except (ValueError, RecursionError):
        return
    path.write_text(text)
    try:
        report = dropctl.inspect(path)
    except DropctlError:
        if outcome:
            outcome.rejected += 1
        return
    evaluate(report, Policy(min_rate=0.1, max_rate=0.5, require_sites=1))
    if outcome:
        outcome.ok += 1


def run(n: int) -> Outcome:
    outcome = Outcome()
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "model.json"

        @settings(max_examples=n, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(documents)
        def prop(doc: Any) -> None:
            check_document(doc, target, outcome)

        prop()
    return outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="number of cases (default 10,000)")
    args = ap.parse_args()
    start = time.perf_counter()
    outcome = run(args.n)
    took = time.perf_counter() - start
    total = outcome.ok + outcome.rejected
    print(f"{total:,} cases in {took:.1f} s ({total / took:,.0f}/s): {outcome.ok:,} read and "
          f"judged, {outcome.rejected:,} rejected with a one-line ArtifactError; "
          "no other exception escaped")


if __name__ == "__main__":
    main()
