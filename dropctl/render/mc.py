"""Rendering ``mc-predict`` and ``diff`` results: Rich tables, JSON documents, output files.

numpy values become plain Python here and nowhere else. Files are written to a temporary
file in the destination directory and renamed into place, so a failure never leaves a
partial file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from dropctl.errors import InputDataError
from dropctl.fileio import write_atomic  # re-exported: the CLI writes --plot with it
from dropctl.mc.metrics import Calibration
from dropctl.render.fit import fitted_table
from dropctl.render.schema import header

__all__ = ["diff_json", "diff_tables", "mc_json", "mc_tables", "write_atomic", "write_mc_file"]


def _f(x: Any, digits: int = 4) -> str:
    return "-" if x is None else f"{float(x):.{digits}g}"


def _sites_rows(result: Any) -> list[dict[str, Any]]:
    return [{"path": s.path, "class_name": s.class_name, "kind": s.kind.value, "rate": s.rate,
             "effective_rate": s.effective_rate, "selected": s.selected,
             "switched": s.switched, "dead": s.dead, "note": s.note,
             "always_on": s.always_on} for s in result.sites]


def _output_summary(o: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": o.name, "shape": list(o.mean.shape), "classifier": o.classifier,
        "mean_std": float(np.mean(o.std)) if o.std.size else 0.0,
        "max_std": float(np.max(o.std, initial=0.0)),
        "max_stderr": float(np.max(o.stderr, initial=0.0)),
        "max_abs_det_vs_mean": float(np.max(np.abs(o.deterministic - o.mean), initial=0.0)),
    }
    if o.classifier:
        doc.update(
            mean_entropy=float(np.mean(o.entropy)),
            mean_mutual_information=float(np.mean(o.mutual_information)),
            mean_variation_ratio=float(np.mean(o.variation_ratio)),
            flip_share=float(np.mean(o.flipped)),
            argmax_agreement=float(np.mean(o.deterministic.argmax(-1) == o.mean.argmax(-1))),
        )
    return doc


def _calib_doc(calib: Mapping[str, tuple[Calibration, Calibration]] | None) -> Any:
    if not calib:
        return None
    return {name: {"deterministic": vars(d), "mc_mean": vars(m)} for name, (d, m) in calib.items()}


def mc_json(result: Any, calib: Mapping[str, tuple[Calibration, Calibration]] | None = None,
            per_sample: bool = False) -> dict[str, Any]:
    """The ``mc-predict --json`` document (a summary; arrays go to ``--output``)."""
    doc: dict[str, Any] = {
        **header("mc-predict"),
        "model": result.model_name, "inputs": result.n_inputs,
        "samples_requested": result.samples_requested, "passes": result.passes,
        "seed": result.seed, "stochastic": result.stochastic,
        "unswitched": list(result.unswitched),
        "until_stable": result.until_stable, "stable": result.stable,
        "max_stderr": result.max_stderr, "rows_per_chunk": result.rows_per_chunk,
        "seconds": round(result.seconds, 4), "rescues": list(result.rescues),
        "sites": _sites_rows(result), "outputs": [_output_summary(o) for o in result.outputs],
        "calibration": _calib_doc(calib),
    }
    if per_sample:
        doc["per_sample"] = {o.name: _per_sample_rows(o) for o in result.outputs}
    return doc


def _per_sample_rows(o: Any) -> list[dict[str, Any]]:
    rows = []
    for i in range(o.mean.shape[0]):
        row: dict[str, Any] = {"index": i, "std": float(np.mean(o.std[i]))}
        if o.classifier:
            row.update(det_class=int(o.deterministic[i].argmax()), mc_class=int(o.mean[i].argmax()),
                       mc_prob=float(o.mean[i].max()), entropy=float(o.entropy[i]),
                       mutual_information=float(o.mutual_information[i]),
                       variation_ratio=float(o.variation_ratio[i]), flipped=bool(o.flipped[i]))
        else:
            row.update(deterministic=float(np.mean(o.deterministic[i])),
                       mean=float(np.mean(o.mean[i])))
        rows.append(row)
    return rows


def mc_tables(result: Any, calib: Mapping[str, tuple[Calibration, Calibration]] | None = None,
              per_sample: bool = False) -> list[Any]:
    """Rich renderables for the human ``mc-predict`` report (printed on stdout)."""
    numbers = ("mean std", "max std", "max stderr", "max |det-mean|", "entropy", "BALD",
               "var. ratio", "flips")
    head_rows = []
    for o in result.outputs:
        s = _output_summary(o)
        head_rows.append([o.name, "x".join(map(str, s["shape"])), _f(s["mean_std"]), _f(s["max_std"]),
                     _f(s["max_stderr"]), _f(s["max_abs_det_vs_mean"]),
                     _f(s.get("mean_entropy")), _f(s.get("mean_mutual_information")),
                     _f(s.get("mean_variation_ratio")),
                     f"{s['flip_share']:.0%}" if o.classifier else "-"])
    head = fitted_table(("output", "shape", *numbers), head_rows, wrap=("output",), right=numbers,
                        title=f"mc-predict {result.model_name}: {result.n_inputs} input(s), "
                              f"{result.passes} pass(es), seed {result.seed}",
                        title_justify="left")
    out: list[Any] = [head]
    sites = fitted_table(
        ("site", "class", "rate", "effective", "on"),
        ([st.path, st.class_name + (" (always on)" if st.always_on else ""),
          _f(st.rate), _f(st.effective_rate, 6),
          "yes" if st.switched else "never acts" if st.dead else
          "NOT SWITCHED" if st.selected else "no"]
         for st in result.sites),
        wrap=("site",), title="sites", title_justify="left")
    if result.sites:
        out.append(sites)
    if calib:
        t = Table(title="calibration (15-bin ECE)", title_justify="left")
        for col in ("output", "", "accuracy", "NLL", "Brier", "ECE"):
            t.add_column(col, justify="left" if col in ("output", "") else "right")
        for name, pair in calib.items():
            for label, c in zip(("deterministic", "MC mean"), pair, strict=True):
                t.add_row(name, label, _f(c.accuracy), _f(c.nll), _f(c.brier), _f(c.ece))
        out.append(t)
    if per_sample:
        for o in result.outputs:
            rows = _per_sample_rows(o)
            t = Table(title=f"per sample: {o.name}", title_justify="left")
            for col in rows[0]:
                t.add_column(col, justify="right")
            for r in rows:
                t.add_row(*(_f(v) if isinstance(v, float) else str(v) for v in r.values()))
            out.append(t)
    notes = []
    if result.unswitched:
        notes.append(f"{len(result.unswitched)} stochastic site(s) could not be switched on, so "
                     "their randomness is NOT in these statistics: "
                     + ", ".join(result.unswitched))
    elif not result.stochastic:
        notes.append("no stochastic site is switched on: every pass is identical (std is 0)")
    dead = [s.path for s in result.sites if s.dead]
    if dead:
        notes.append(f"{len(dead)} site(s) never act, in predict() or fit() (built but never "
                     "called, so nothing is missing from these statistics): " + ", ".join(dead))
    if result.until_stable is not None:
        notes.append(f"until-stable {result.until_stable:g}: "
                     + ("reached" if result.stable else "NOT reached")
                     + f" after {result.passes} passes (max stderr {result.max_stderr:.3g})")
    out.extend(notes)
    return out


def _arrays(result: Any) -> dict[str, np.ndarray]:
    multi = len(result.outputs) > 1
    out: dict[str, np.ndarray] = {}
    for o in result.outputs:
        prefix = f"{o.name}/" if multi else ""
        fields = ["deterministic", "mean", "std", "stderr"]
        if o.classifier:
            fields += ["entropy", "mutual_information", "variation_ratio"]
        if o.samples is not None:
            fields.append("samples")
        for f in fields:
            out[prefix + f] = np.asarray(getattr(o, f))
    return out


def mc_file_json(result: Any, calib: Mapping[str, tuple[Calibration, Calibration]] | None = None,
                 *, per_input: dict[str, np.ndarray] | None = None,
                 other: dict[str, np.ndarray] | None = None,
                 extra_doc: dict[str, Any] | None = None) -> str:
    """The ``--output x.json`` document (also what ``--output -`` prints on stdout)."""
    doc = mc_json(result, calib)
    doc.update(extra_doc or {})
    arrays = {**_arrays(result), **(per_input or {}), **(other or {})}
    doc["arrays"] = {k: v.tolist() for k, v in arrays.items()}
    return json.dumps(doc)


def write_mc_file(result: Any, path: str | Path,
                  calib: Mapping[str, tuple[Calibration, Calibration]] | None = None, *,
                  per_input: dict[str, np.ndarray] | None = None,
                  other: dict[str, np.ndarray] | None = None,
                  extra_doc: dict[str, Any] | None = None,
                  rows: np.ndarray | None = None) -> None:
    """``--output``: .npz (arrays), .json (summary + arrays as lists) or .csv (per sample).

    ``per_input`` arrays ([N, ...]) join every format; ``other`` arrays (OOD scores, ranking)
    go to .npz/.json only; ``extra_doc`` keys join the .json summary. ``rows``: the CSV lists
    only these inputs, in this order, with a 1-based ``rank`` column (``--rank-by``).
    """
    suffix = Path(path).suffix.lower()
    arrays = {**_arrays(result), **(per_input or {})}
    if suffix == ".npz":
        everything = {**arrays, **(other or {})}
        # allow_pickle is savez's default, spelled out so the ** keys can only be array names
        # (mypy rejects **dict[str, ndarray] where a keyword-only bool could receive it).
        write_atomic(path, lambda fh: np.savez(fh, allow_pickle=True, **everything))
    elif suffix == ".json":
        text = mc_file_json(result, calib, per_input=per_input, other=other, extra_doc=extra_doc)
        write_atomic(path, lambda fh: fh.write(text.encode()))
    elif suffix == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        cols = [(k, v.reshape(v.shape[0], -1)) for k, v in arrays.items() if k.split("/")[-1]
                != "samples"]
        head = [k if a.shape[1] == 1 else f"{k}[{j}]" for k, a in cols for j in range(a.shape[1])]
        order = range(result.n_inputs) if rows is None else [int(i) for i in rows]
        w.writerow((["rank"] if rows is not None else []) + ["index"] + head)
        for r, i in enumerate(order, start=1):
            w.writerow(([r] if rows is not None else []) + [i]
                       + [repr(float(x)) for _, a in cols for x in a[i]])
        write_atomic(path, lambda fh: fh.write(buf.getvalue().encode()))
    else:
        raise InputDataError(f"unsupported --output format '{suffix}' (use .npz, .json or .csv)")


def diff_json(d: Any) -> dict[str, Any]:
    """The ``diff --json`` document."""
    return {
        **header("diff"),
        "model": d.model_name, "inputs": d.n_inputs, "samples": d.samples, "seed": d.seed,
        "keras_version": d.keras_version,
        "predict": {"deterministic": d.predict_deterministic, "max_diff": d.predict_max_diff},
        "call": {"deterministic": d.call_deterministic, "max_diff": d.call_max_diff},
        "mc": {"stochastic": d.mc_stochastic, "max_abs_det_vs_mean": d.max_abs_det_vs_mean,
               "mean_abs_det_vs_mean": d.mean_abs_det_vs_mean, "mean_std": d.mean_std,
               "argmax_agreement": d.argmax_agreement, "flip_share": d.flip_share,
               "unswitched": list(d.mc.unswitched)},
        "predict_culprits": list(d.predict_culprits),
        "sites": _sites_rows(d),
        "rescues": list(d.mc.rescues),
    }


def diff_tables(d: Any) -> list[Any]:
    """Rich renderables for the human ``diff`` report."""
    t = Table(title=f"diff {d.model_name}: {d.n_inputs} input(s), T={d.samples}, "
                    f"Keras {d.keras_version}", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("answer")
    yes_no = {True: "deterministic", False: "STOCHASTIC"}
    t.add_row("predict() twice", f"{yes_no[d.predict_deterministic]}"
              + ("" if d.predict_deterministic else f" (max diff {d.predict_max_diff:.3g})"))
    t.add_row("model(x) twice", f"{yes_no[d.call_deterministic]}"
              + ("" if d.call_deterministic else f" (max diff {d.call_max_diff:.3g})"))
    if d.mc.unswitched:  # never "identical" on the basis of sites it could not switch on
        t.add_row("MC passes", ("stochastic" if d.mc_stochastic else "identical")
                  + f", INCOMPLETE: not switched on: {', '.join(d.mc.unswitched)}")
    else:
        t.add_row("MC passes", "stochastic" if d.mc_stochastic else "identical (no site acts)")
    t.add_row("max |det - MC mean|", _f(d.max_abs_det_vs_mean))
    t.add_row("mean |det - MC mean|", _f(d.mean_abs_det_vs_mean))
    t.add_row("mean std", _f(d.mean_std))
    if d.argmax_agreement is not None:
        t.add_row("argmax agreement det vs MC mean", f"{d.argmax_agreement:.1%}")
        t.add_row("inputs whose class flips", f"{d.flip_share:.1%}")
    if not d.predict_deterministic:
        t.add_row("sites making predict() stochastic",
                  ", ".join(d.predict_culprits) or "none alone (they act together)")
    return [t]
