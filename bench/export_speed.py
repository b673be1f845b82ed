"""Speed of one exported MC-dropout call next to the 50-call loop and the floor, per format.

Run: ``.venv/bin/python bench/export_speed.py [--formats onnx,litert,savedmodel,openvino]
[--repeat 5]``.
On a model whose prefix dominates (three Conv2D on 32x32x3, then Dense(128) -> Dropout(0.5) ->
Dense(10, softmax)), 32 inputs, T=50, each in the format's own runtime (onnxruntime, the LiteRT
interpreter, ``tf.saved_model``, OpenVINO in float32):

* **mc**: one call of ``dropctl export --mc 50``;
* **loop**: 50 calls of the ``--standard`` export of a copy with the dropout always on (what
  MC in production costs without dropctl: every pass recomputes the prefix); a ``--perma``
  export is that copy, so its 50 calls are timed;
* **floor**: one call of the prefix (conv base) + 50 calls of the suffix (the head), both
  exported ``--standard`` in the same format: the least work T passes need.

Targets: mc <= 1.3x floor and loop >= 5x mc. Prints the ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T = 50
N = 32
EXT = {"savedmodel": "", "onnx": ".onnx", "litert": ".tflite", "openvino": ".xml"}


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _models(tmp: Path) -> tuple[Path, Path, Path]:
    """(full, prefix, suffix) .keras files sharing one set of seeded weights."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(64, 3, activation="relu", padding="same")(inp)
    x = keras.layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    feat = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(128, activation="relu")
    drop = keras.layers.Dropout(0.5)
    head = keras.layers.Dense(10, activation="softmax")
    full = keras.Model(inp, head(drop(dense(feat))), name="convhead")
    prefix = keras.Model(inp, feat, name="prefix")
    f_in = keras.Input((feat.shape[-1],), name="features")
    suffix = keras.Model(f_in, head(drop(dense(f_in))), name="suffix")
    paths = tmp / "full.keras", tmp / "prefix.keras", tmp / "suffix.keras"
    for m, p in zip((full, prefix, suffix), paths, strict=True):
        m.save(p)
    return paths


def _measure(run: dict, x, repeat: int) -> tuple[float, float, float]:
    """(one MC call, 50 perma calls, one prefix call + 50 suffix calls) in seconds."""
    (f_key,) = run["prefix"]({"image": x})
    f = run["prefix"]({"image": x})[f_key]
    mc = _best(lambda: run["mc"]({"image": x}), repeat)
    loop = _best(lambda: [run["perma"]({"image": x}) for _ in range(T)], repeat)
    floor = _best(lambda: (run["prefix"]({"image": x}),
                           [run["suffix"]({"features": f}) for _ in range(T)]), repeat)
    return mc, loop, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="onnx,litert,savedmodel,openvino")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import numpy as np

    import dropctl
    from dropctl.deploy.plan import ExportFormat
    from dropctl.deploy.verify import open_runner

    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 32, 32, 3)).astype(np.float32)
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        full, prefix, suffix = _models(tmp)
        print(f"model: conv base + Dense(128) -> Dropout(0.5) -> Dense(10); N={N}, T={T}")
        print(f"{'format':<11} {'mc ms':>8} {'loop ms':>9} {'floor ms':>9} "
              f"{'mc/floor':>9} {'loop/mc':>8}")
        for name in args.formats.split(","):
            fmt = ExportFormat(name)
            out = {}
            for key, src, mode in (("mc", full, "mc"), ("perma", full, "perma"),
                                   ("prefix", prefix, "standard"),
                                   ("suffix", suffix, "standard")):
                dst = tmp / f"{key}_{name}{EXT[name]}"
                dropctl.export(src, dst, format=name, mode=mode, samples=T, verify=False)
                out[key] = open_runner(fmt, dst)
            mc, loop, floor = _measure(out, x, args.repeat)
            print(f"{name:<11} {mc * 1e3:8.1f} {loop * 1e3:9.1f} {floor * 1e3:9.1f} "
                  f"{mc / floor:8.2f}x {loop / mc:7.1f}x")
            if mc / floor > 1.3 or loop / mc < 5:
                missed.append(name)
    print("targets: mc/floor <= 1.3x, loop/mc >= 5x"
          + (f"; missed by {', '.join(missed)}" if missed else "; all met"))
    if missed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
