"""``dropctl export``: a deployable SavedModel, ONNX or LiteRT file whose one call does MC dropout.

* :mod:`~dropctl.export.plan` (pure): formats, modes, output keys, path checks, the report types;
* :mod:`~dropctl.export.build` (runtime): the graph (only the stochastic sites on, the
  deterministic prefix once, random ops every target runtime samples) and the writers;
* :mod:`~dropctl.export.verify` (runtime): the written file judged by its own runtime
  (``tf.saved_model``, onnxruntime, the LiteRT interpreter), never by the code that wrote it;
* :mod:`~dropctl.export.run`: the use case ``dropctl.export(...)`` and the CLI call.
"""
