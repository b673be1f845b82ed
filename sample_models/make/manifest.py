"""MANIFEST.json and README.md: the one writer, the one reader, and the comparison ``--check`` makes.

The manifest holds, per file, the catalogue's facts (description, expected sites in config order)
and the oracle's (inputs, what each way of running it did, training scores, tf.keras references).
Only :func:`write` writes it, next to the README made from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sample_models.make.catalogue import BATCH, GENERATOR, SEED, TRAINED, VOCAB

NAME = "MANIFEST.json"
VARYING = ("generator", "versions")
"""Top-level keys that say where and with what a build ran, not what the samples are: ``--check``
reports them but does not fail on them."""


def document(artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole manifest for these per-file entries (in catalogue order)."""
    return {
        "generator": GENERATOR,
        "seed": SEED,
        "versions": versions(),
        "site_path_convention": "layer names below the outermost model, '/'-joined, nested "
        "models and wrappers included (time_distributed/dropout, bidirectional/forward_lstm, "
        "model_A/dropout); dropctl's site paths prepend the outermost model's name (model_name): "
        "model_AB/model_A/dropout",
        "measurement": f"fixed seeded batch of {BATCH} per input (int inputs drawn in "
        f"[0, {VOCAB})); each *_deterministic is whether two successive runs are bitwise equal "
        "(a string 'error: ...' if the run raised). keras3_* loads with "
        "keras.models.load_model(path) (safe_mode default); tfkeras_* with "
        "tf_keras.models.load_model(path), except lstm_permadropout_tfkeras.h5 which is loaded "
        "with safe_mode=False and custom_objects={'K': tf_keras.backend} (our own file).",
        "artifacts": artifacts,
    }


def read(here: Path) -> dict[str, Any] | None:
    """The manifest in ``here``, or None when there is none."""
    path = here / NAME
    if not path.exists():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def write(here: Path, manifest: dict[str, Any]) -> None:
    """THE writer of MANIFEST.json (and of the README.md made from it)."""
    (here / NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    (here / "README.md").write_text(readme(manifest))


def same(built: Any, committed: Any) -> bool:
    """Equal facts; floats equal to float32 precision. A float the oracle records from running
    a model (the tf.keras ``reference`` predictions) can differ in its last bits between two runs
    on one machine: TensorFlow's CPU kernels sum in an order that depends on thread scheduling
    (measured: 1e-8 apart, same weights_sha256). Everything else must be exactly equal."""
    if isinstance(built, float) and isinstance(committed, float):
        return math.isclose(built, committed, rel_tol=1e-6, abs_tol=1e-7)
    if isinstance(built, dict) and isinstance(committed, dict):
        return built.keys() == committed.keys() and all(same(built[k], committed[k]) for k in built)
    if isinstance(built, list) and isinstance(committed, list):
        return len(built) == len(committed) and all(map(same, built, committed))
    return type(built) is type(committed) and bool(built == committed)


def differences(built: dict[str, Any], committed: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(differences that fail ``--check``, notes): the same files, each with the same facts
    (:func:`same`)."""
    fails, notes = [], []
    for key in sorted(set(built) | set(committed)):
        if built.get(key) != committed.get(key):
            (notes if key in VARYING or key == "artifacts" else fails).append(
                f"{key}: {committed.get(key)!r} committed, {built.get(key)!r} built")
    ours = {a["file"]: a for a in built.get("artifacts", [])}
    theirs = {a["file"]: a for a in committed.get("artifacts", [])}
    fails = [f for f in fails if not f.startswith("artifacts:")]
    notes = [n for n in notes if not n.startswith("artifacts:")]
    for name in sorted(set(ours) - set(theirs)):
        fails.append(f"{name}: built, not in the committed manifest")
    for name in sorted(set(theirs) - set(ours)):
        fails.append(f"{name}: in the committed manifest, not built")
    for name in sorted(set(ours) & set(theirs)):
        for fact in sorted(set(ours[name]) | set(theirs[name])):
            if not same(ours[name].get(fact), theirs[name].get(fact)):
                fails.append(f"{name}: {fact}: {theirs[name].get(fact)!r} committed, "
                             f"{ours[name].get(fact)!r} built")
    return fails, notes


def readme(manifest: dict[str, Any]) -> str:
    def cell(m: dict[str, Any], prefix: str, what: str) -> str:
        if not m.get(f"{prefix}_loads"):
            return "does not load"
        v = m.get(f"{prefix}_{what}_deterministic")
        return {True: "yes", False: "**no**"}.get(v, str(v))

    rows = [
        "| file | what it shows | sites | Keras 3 predict deterministic? | Keras 3 `model(x)` "
        "deterministic? | tf.keras predict deterministic? |",
        "|---|---|---|---|---|---|",
    ]
    for a in manifest["artifacts"]:
        m = a["measured"]
        rows.append(
            f"| `{a['file']}` | {a['shows']} | {len(a['expected_sites'])} "
            f"| {cell(m, 'keras3', 'predict')} | {cell(m, 'keras3', 'call')} "
            f"| {cell(m, 'tfkeras', 'predict')} |"
        )
    trained = []
    for a in manifest["artifacts"]:
        t = a.get("training")
        if t is None:
            continue
        stem = a["file"].split(".")[0]
        files = ", ".join(f"`{f}`" for f in TRAINED[stem].values())
        score = (f"held-out accuracy {t['test_accuracy_deterministic']:.1%}"
                 if "test_accuracy_deterministic" in t
                 else f"held-out RMSE {t['test_rmse_deterministic']:g} (target std "
                      f"{t['target_std_train']:g})")
        trained.append(f"- `{a['file']}`: {a['description']} Trained {t['epochs']} epochs on "
                       f"{t['train']} inputs; {score} without dropout. Data: {files}.")
    return (
        "# Sample models\n\n"
        "Small models for dropctl's tests and docs: untrained (seeded initialisers) except\n"
        "the two trained ones below. Do not edit\n"
        "by hand: regenerate with `python -m sample_models.make` from the repo root.\n"
        "`MANIFEST.json` holds the ground truth: expected stochastic sites (paths below the\n"
        "outermost model; dropctl prefixes them with the model's name) and facts MEASURED by "
        "loading and running each file with\n"
        f"Keras {manifest['versions']['keras']} and tf-keras {manifest['versions']['tf_keras']}"
        " (predict twice on a fixed batch of 16 and compare bitwise).\n\n"
        + "\n".join(rows)
        + "\n\n`keras1_style.*` and the tf-keras Lambda file are meant for the static reader;\n"
        "the tf-keras Lambda file was only ever loaded by this script (our own file) with\n"
        "`safe_mode=False` to measure the Keras 2 behaviour. Never do that with files you did\n"
        "not make.\n\n"
        "## Trained samples (for `mc-predict --labels --ood`)\n\n"
        "Trained by `python -m sample_models.make --only digits,diabetes` on data sets that ship\n"
        "inside scikit-learn (no download), fixed seeds and TensorFlow op determinism (a rerun\n"
        "reproduces the weights bit for bit on the same machine):\n\n"
        + "\n".join(trained) + "\n"
    )


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("keras", "tf_keras", "tensorflow", "h5py", "numpy")}
