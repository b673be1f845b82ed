"""Calibration on the bundled samples: 20 random calibration/test splits (the README's numbers).

Run from the repository root: ``python -m bench.calibration_samples [SPLITS]``.

For ``sample_models/digits.keras`` and ``sample_models/diabetes.keras`` the Monte Carlo run is
made once on every bundled input (T = 50, seed 0, ``dropctl.mc_predict``); each split ``s``
(``numpy.random.default_rng(s).permutation``, first half calibration, second half test) then fits
on one half and is judged on the other, exactly as ``dropctl calibrate`` + ``mc-predict
--calibration --labels`` do. ``--write-split DIR`` instead only saves split 0 as the documented
files ``DIR/{digits,diabetes}_{cal,test}_{x,y}.npy`` (the docs' transcripts start from them) and
runs nothing: a setup step that also ran the benchmark took its time and its exit code.

Exit 1 unless, averaged over the splits, the 90% sets / intervals cover within [0.88, 0.93] and
temperature scaling lowers the test NLL and ECE of digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dropctl.mc.calibration import apply_calibration, fit_calibration
from dropctl.mc.calibration_check import check_calibration
from dropctl.mc.conformal import ClassScore

SAMPLES = Path(__file__).resolve().parents[1] / "sample_models"
COVERAGE = 0.9
BAND = (0.88, 0.93)


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibration rows, test rows): a seeded permutation cut in half (sorted halves)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def rows(result, idx: np.ndarray):  # type: ignore[no-untyped-def]
    """The MC result restricted to the rows ``idx`` (every per-input array sliced)."""
    import dataclasses

    outs = tuple(dataclasses.replace(
        o, deterministic=o.deterministic[idx], mean=o.mean[idx], std=o.std[idx],
        stderr=o.stderr[idx],
        **{f: getattr(o, f)[idx] for f in ("entropy", "mutual_information", "variation_ratio",
                                           "flipped") if getattr(o, f) is not None})
        for o in result.outputs)
    return dataclasses.replace(result, outputs=outs, n_inputs=int(idx.size))


def main() -> int:
    import argparse

    import dropctl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("splits", nargs="?", type=int, default=20)
    parser.add_argument("--write-split", metavar="DIR",
                        help="only save split 0's files in DIR (no benchmark)")
    options = parser.parse_args()
    splits, write = options.splits, options.write_split
    if write:
        for name in ("digits", "diabetes"):
            x = np.load(SAMPLES / f"{name}_inputs.npy")
            y = np.load(SAMPLES / f"{name}_labels.npy")
            cal, test = split(len(x), 0)
            for part, idx in (("cal", cal), ("test", test)):
                np.save(Path(write) / f"{name}_{part}_x.npy", x[idx])
                np.save(Path(write) / f"{name}_{part}_y.npy", y[idx])
        return 0
    ok = True
    for name in ("digits", "diabetes"):
        x = np.load(SAMPLES / f"{name}_inputs.npy")
        y = np.load(SAMPLES / f"{name}_labels.npy")
        result = dropctl.mc_predict(str(SAMPLES / f"{name}.keras"), x, samples=50, seed=0)
        out = result.outputs[0].name
        scores = list(ClassScore) if result.outputs[0].classifier else [ClassScore.LAC]
        table: dict[str, list[float]] = {}
        for s in range(splits):
            cal, test = split(len(x), s)
            r_cal, r_test = rows(result, cal), rows(result, test)
            for score in scores:
                fit = fit_calibration(r_cal, {out: y[cal]}, model_sha="-", coverage=COVERAGE,
                                      score=score)
                (c,) = check_calibration(fit, r_test, apply_calibration(fit, r_test),
                                         {out: y[test]})
                if result.outputs[0].classifier:
                    table.setdefault(f"{score.value} coverage", []).append(c.set_coverage)
                    table.setdefault(f"{score.value} mean set size", []).append(c.mean_set_size)
                    if score is ClassScore.LAC:
                        for key, v in (("T", fit.outputs[0].temperature),
                                       ("NLL before", c.before.nll), ("NLL after", c.after.nll),
                                       ("ECE before", c.before.ece), ("ECE after", c.after.ece),
                                       ("ECE adaptive before", c.before.ece_adaptive),
                                       ("ECE adaptive after", c.after.ece_adaptive),
                                       ("naive 90% set coverage", c.naive_coverage)):
                            table.setdefault(key, []).append(v)
                else:
                    for key, v in (("normalized coverage", c.interval_coverage),
                                   ("normalized mean width", c.mean_width),
                                   ("absolute coverage", c.absolute_coverage),
                                   ("absolute width", c.absolute_width),
                                   ("mean +- 1.645 std coverage", c.naive_coverage),
                                   ("variance scale", fit.outputs[0].variance_scale),
                                   ("NLL before", c.nll_before), ("NLL after", c.nll_after)):
                        table.setdefault(key, []).append(v)
        n_cal = len(x) // 2
        print(f"\n{name}: {len(x)} inputs, {splits} splits of {n_cal} calibration / "
              f"{len(x) - n_cal} test, T=50, seed 0, coverage {COVERAGE}")
        print(f"  guarantee: {COVERAGE} <= E[coverage] <= {COVERAGE + 1 / (n_cal + 1):.4f}")
        for key, values in table.items():
            v = np.array(values)
            print(f"  {key:28s} mean {v.mean():.4f}  min {v.min():.4f}  max {v.max():.4f}  "
                  f"split 0 {v[0]:.4f}")
            if key.endswith("coverage") and not key.startswith(("naive", "mean")):
                ok &= bool(BAND[0] <= v.mean() <= BAND[1])
        if "NLL after" in table and "ECE after" in table:
            ok &= bool(np.mean(table["NLL after"]) < np.mean(table["NLL before"]))
            ok &= bool(np.mean(table["ECE after"]) < np.mean(table["ECE before"]))
    print(f"\nmean coverage in {BAND} and temperature lowers NLL/ECE: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
