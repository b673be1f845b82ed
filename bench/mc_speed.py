"""Speed and memory of ``dropctl mc-predict`` next to the naive loop and the physical floor.

Run: ``[KERAS_BACKEND=jax|torch] .venv/bin/python bench/mc_speed.py [--quick]``. Prints three
ratios measured in one run on the classic CNN (sample_models/cnn.keras, 28x28x1, three
dropouts), on the Keras backend the process runs (TensorFlow by default):

1. one input, T=100: Python loop of ``model.predict`` (naive) / dropctl  (target >= 200x), and
   dropctl / one compiled deterministic forward of the 100 rows (the physical limit: on a
   backend whose ``predict()`` call costs little, e.g. JAX, the 200x target lies beyond it);
2. N=500, T=50: dropctl / that backend's own compiled deterministic forward pass over the same
   T*N rows (the floor: ``tf.function`` / ``jax.jit`` / eager torch under no_grad, all sites off;
   target <= 1.3x on TensorFlow, <= 1.5x on JAX and torch);
3. N=1000: peak RSS with T=1000 minus peak RSS with T=10, each in a fresh process
   (target <= 100 MB).
Also reports the measured effective dropout rate of the engine's masks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "sample_models" / "cnn.keras"


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _peak_child(n: int, t: int) -> float:
    code = (
        "import resource, numpy as np, dropctl\n"
        f"dropctl.mc_predict({str(CNN)!r}, synthetic={n}, samples={t}, seed=0)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller memory run")
    args = ap.parse_args()
    import numpy as np

    import dropctl
    from dropctl.runtime import backend as backends
    from dropctl.runtime.imports import quiet_import_keras

    keras = quiet_import_keras()  # quietly: TF 2.21's C++ start-up lines would bury the table
    shim = backends.current()
    from dropctl.mc.engine import Engine, effective_rate, mask_bits

    model = dropctl.load_model(CNN)
    rng = np.random.default_rng(0)
    repeat = 2 if args.quick else 3

    # 1. one input, T=100
    x1 = rng.standard_normal((1, 28, 28, 1)).astype("float32")
    model.predict(x1, verbose=0)
    loops = 20 if args.quick else 100
    naive = _best(lambda: [model.predict(x1, verbose=0) for _ in range(loops)], 1) * 100 / loops
    dropctl.mc_predict(model, x1, samples=100, seed=0)
    ours1 = _best(lambda: dropctl.mc_predict(model, x1, samples=100, seed=0), repeat)
    with Engine(model) as eng:  # the physical limit of row 1: one compiled forward of 100 rows
        fwd1 = eng.deterministic_fn()
        x100 = np.repeat(x1, 100, axis=0)
        fwd1(x100)
        floor1 = _best(lambda: fwd1(x100), repeat)

    # 2. N=500, T=50 vs one deterministic compiled forward over the same 25,000 rows
    x = rng.standard_normal((500, 28, 28, 1)).astype("float32")
    big = np.repeat(x, 50, axis=0)
    with Engine(model) as eng:
        rows = eng.rows
        fwd = eng.deterministic_fn()  # the backend's compiled forward, every site off

        def floor() -> None:
            for i in range(0, len(big), rows):
                fwd(big[i:i + rows])

        floor()
        t_floor = _best(floor, repeat)

    dropctl.mc_predict(model, x, samples=50, seed=0)
    t_ours = _best(lambda: dropctl.mc_predict(model, x, samples=50, seed=0), repeat)

    # effective rate of the engine's masks, measured on a large tensor
    layer = model.get_layer("dropout_2")
    ones = keras.ops.ones([4000, 1000])
    bits = mask_bits(float(layer.rate))
    thr = round(effective_rate(float(layer.rate)) * 2**bits)
    kept = backends.to_numpy(shim.dropout(ones, None, shim.seed(np.array([1, 2])), bits, thr))
    measured = 1.0 - float(np.count_nonzero(kept)) / kept.size

    # 3. memory, fresh processes
    n_mem = 200 if args.quick else 1000
    low, high = _peak_child(n_mem, 10), _peak_child(n_mem, 1000)

    floor_target = 1.3 if shim.name == "tensorflow" else 1.5
    print(f"model: {CNN.relative_to(ROOT)}  rows per chunk: {rows}  backend {shim.name}  "
          f"keras {keras.version()}")
    print(f"{'measure':44} {'dropctl':>10} {'reference':>11} {'ratio':>8}  target")
    print(f"{'1 input, T=100 vs loop of predict()':44} {ours1 * 1e3:8.1f}ms {naive * 1e3:9.1f}ms "
          f"{naive / ours1:7.0f}x  >= 200x faster")
    print(f"{'1 input, T=100 vs compiled forward of 100 rows':44} {ours1 * 1e3:8.1f}ms "
          f"{floor1 * 1e3:9.1f}ms {ours1 / floor1:7.2f}x  (information: the limit of row 1)")
    print(f"{'N=500, T=50 vs compiled forward of 25k rows':44} {t_ours * 1e3:8.1f}ms "
          f"{t_floor * 1e3:9.1f}ms {t_ours / t_floor:7.2f}x  <= {floor_target}x the floor")
    print(f"{f'N={n_mem} peak RSS, T=1000 vs T=10':44} {high:8.0f}MB {low:9.0f}MB "
          f"{high - low:+7.0f}MB  <= +100 MB")
    print(f"effective rate of dropout_2 (requested {layer.rate}): measured {measured:.5f}")
    missed = [name for name, bad in (
        ("1 input >= 200x", naive / ours1 < 200),
        (f"N=500 <= {floor_target}x the floor", t_ours / t_floor > floor_target),
        ("memory <= +100 MB", high - low > 100),
        # 4M Bernoulli draws: the sampling error alone is ~2.5e-4, so 2e-3 flags a real bias.
        ("measured rate", abs(measured - float(layer.rate)) > 2e-3),
    ) if bad]
    if missed:
        print(f"MISSED: {', '.join(missed)}")
        raise SystemExit(1)
    print("all targets met")


if __name__ == "__main__":
    main()
