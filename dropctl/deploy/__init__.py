"""``dropctl export``: a deployable SavedModel, ONNX, LiteRT or OpenVINO file doing MC dropout.

The package is ``deploy`` because ``dropctl.export`` is the public function.

* :mod:`~dropctl.deploy.plan` (pure): formats, modes, output keys, path checks, the report types;
* :mod:`~dropctl.deploy.build` (runtime): the graph (only the stochastic sites on, the
  deterministic prefix once, random ops every target runtime samples);
  :mod:`~dropctl.deploy.writers` (runtime): that graph in each format;
  :mod:`~dropctl.deploy.files`: OUT written beside itself, published by a rename;
* :mod:`~dropctl.deploy.verify` (runtime): the written file judged by its own runtime
  (``tf.saved_model``, onnxruntime, the LiteRT interpreter, OpenVINO), never by the code that
  wrote it; :mod:`~dropctl.deploy.calibration`: the ``--calibration`` head and its check;
* :mod:`~dropctl.deploy.run`: the use case ``dropctl.export(...)`` and the CLI call.
"""
