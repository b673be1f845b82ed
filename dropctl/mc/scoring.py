"""Partition-independent Monte Carlo scoring: a row's result depends only on (model, seed, T,
its global row index, its data), whatever chunk, shard, process or Ray worker computes it.

:func:`dropctl.mc.engine.mc_predict` is fastest on one in-memory array, but the bytes of a row may
change with the batch it shares: CPU matrix kernels pick their blocking from the batch size (a
Dense(2048) layer on TF 2.21 gives different last bits for batches of 40 and 600; the sample CNN
differs for a batch of one). :class:`Scorer` removes every such dependence:

* inputs are grouped in blocks aligned to the global index (block ``k`` holds rows
  ``k*B .. k*B+B-1``, ``B`` inputs per compiled call); a partial block is padded to ``B`` rows,
  so every call has the same shape and a row always sits at the same position in it;
* the engine's Dropout/SpatialDropout masks are addressed by global row (``dropctl.mc.engine``), and
  Keras-drawn noise (Gaussian, AlphaDropout, RNN/attention dropout) is re-seeded per block;
* passes are split the same way for every row, and the float64 merge runs row by row.

The price is the padding of partial blocks: at most ``2*B - 2`` extra inputs per call of
:meth:`Scorer.score` (shards and Ray work units are aligned to ``B``, so usually none).
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np

from dropctl.errors import InputDataError, UsageError
from dropctl.mc.engine import Engine, chunk_seed, run_key
from dropctl.mc.inputs import model_input_specs
from dropctl.mc.resolve import resolve_model
from dropctl.mc.results import OutputStats
from dropctl.mc.stats import RunningStats

__all__ = ["ScoreConfig", "Scorer", "result_arrays"]


@dataclass(frozen=True)
class ScoreConfig:
    """Everything besides the model and the rows that fixes the result bytes."""

    samples: int
    """Stochastic passes T."""
    seed: int
    """Seed of the run."""
    sites: str | None
    """``--sites`` glob (None: every stochastic site)."""
    rows_per_pass: int
    """Rows (input copies) per compiled forward pass."""
    block: int
    """Inputs per compiled call B (global blocks are aligned to it)."""
    passes_per_call: int
    """Passes per compiled call (T, or the rows per pass when T exceeds them)."""


class Scorer:
    """A patched model ready to score rows at their global index (use as a context manager).

    ``Scorer(model, samples=20, seed=0)``; ``scorer.score(arrays, row0)`` scores rows
    ``row0 .. row0+n-1`` and returns one :class:`~dropctl.mc.results.OutputStats` per model output.
    The engine keeps the model patched until :meth:`close`.
    """

    def __init__(self, model_or_path: Any, *, samples: int = 50, seed: int = 0,
                 sites: str | None = None, batch_size: int | None = None) -> None:
        if samples < 1:
            raise UsageError("--samples must be at least 1")
        if batch_size is not None and batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        self.model, self.rescues = resolve_model(model_or_path)
        self.model_path: str | None = (str(model_or_path) if isinstance(model_or_path, str | PathLike)
                                       else None)
        self.specs = model_input_specs(self.model)
        self._engine = Engine(self.model, sites=sites, rows=batch_size).__enter__()
        try:
            self._prepare(samples, seed, sites)
        except BaseException:
            self.close()
            raise

    def _prepare(self, samples: int, seed: int, sites: str | None) -> None:
        from dropctl.mc.inputs import synthetic_inputs
        from dropctl.mc.metrics import looks_like_probabilities
        from dropctl.mc.resolve import output_names

        rows = self._engine.rows
        tc = min(samples, rows)
        self.config = ScoreConfig(samples, seed, sites, rows, max(1, rows // tc), tc)
        self.sites = self._engine.sites
        self._det = self._engine.deterministic_fn()
        self._key = run_key(seed)
        # Keras draws this noise from seed generators: re-seed them per block and pass chunk.
        self._reseed = self._engine.keras_drawn
        # Classifier or not is a property of the model, decided once on seeded synthetic rows
        # (deciding it per chunk could flip between shards).
        probe = self._det(*synthetic_inputs(self.specs, self.config.block, 0))
        self.classifier = [looks_like_probabilities(np.asarray(p)) for p in probe]
        self.names = output_names(self.model, len(self.classifier))
        self._engine.lift_unreached()  # after a deterministic pass (see Engine._lift)
        self.sites = self._engine.sites
        self._mc = self._engine.mc_fn()

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Give the model its own layers back."""
        self._engine.__exit__(None, None, None)

    def score(self, arrays: list[np.ndarray], row0: int) -> tuple[OutputStats, ...]:
        """Statistics of rows ``row0 .. row0 + n - 1`` (``arrays``: one per model input)."""
        from dropctl.mc.inputs import check_inputs

        if row0 < 0:
            raise InputDataError(f"row index {row0} is negative")
        arrays = check_inputs(list(arrays), self.specs, f"rows {row0}..")
        n = arrays[0].shape[0]
        cfg = self.config
        big_t, b, tc = cfg.samples, cfg.block, cfg.passes_per_call
        det: list[np.ndarray] = []
        stats: list[RunningStats] = []
        for k in range(row0 // b, (row0 + n - 1) // b + 1):
            start = k * b
            lo, hi = max(row0, start) - row0, min(row0 + n, start + b) - row0
            offset = row0 + lo - start
            xs = [_pad(a[lo:hi], offset, b) for a in arrays]
            d = [np.asarray(t)[offset:offset + hi - lo] for t in self._det(*xs)]
            if not det:
                det = [np.empty((n, *t.shape[1:]), t.dtype) for t in d]
                stats = [RunningStats((n, *t.shape[1:]), c)
                         for c, t in zip(self.classifier, d, strict=True)]
            for j, t in enumerate(d):
                det[j][lo:hi] = t
            done, chunk = 0, 0
            while done < big_t:
                t_now = min(tc, big_t - done)
                if self._reseed:
                    self._engine.seed_keras_generators(chunk_seed(cfg.seed, k, chunk))
                res = self._mc(t_now, self._key, start * big_t + done, *xs)
                for j, out in enumerate(res):
                    y = out.reshape((b, t_now, *out.shape[1:]))[offset:offset + hi - lo]
                    stats[j].add(lo, hi, y, done)
                done, chunk = done + t_now, chunk + 1
        return tuple(stats[j].finish(name, det[j], big_t) for j, name in enumerate(self.names))


def _pad(a: np.ndarray, offset: int, b: int) -> np.ndarray:
    """``a`` placed at rows ``offset..`` of a ``b``-row block; other rows repeat an edge row."""
    after = b - offset - a.shape[0]
    if offset == 0 and after == 0:
        return a
    parts = [np.repeat(a[:1], offset, axis=0), a, np.repeat(a[-1:], after, axis=0)]
    return np.concatenate([p for p in parts if p.shape[0]])


def result_arrays(outputs: tuple[OutputStats, ...]) -> dict[str, np.ndarray]:
    """The arrays ``mc-predict --output x.npz`` holds (``name/`` prefixes for several outputs)."""
    multi = len(outputs) > 1
    out: dict[str, np.ndarray] = {}
    for o in outputs:
        prefix = f"{o.name}/" if multi else ""
        fields = ["deterministic", "mean", "std", "stderr"]
        if o.classifier:
            fields += ["entropy", "mutual_information", "variation_ratio"]
        for f in fields:
            out[prefix + f] = np.asarray(getattr(o, f))
    return out
