"""Monte Carlo dropout: running a model's stochastic sites T times and judging the result.

One module per concern, data flowing down this list:

* ``run``: the ``mc-predict`` use case behind :func:`dropctl.mc_predict` (one typed report);
* ``resolve`` (the model loaded and its artifact parsed once), ``inputs``, ``engine`` (the
  patched model and the chunked passes), ``stats`` (the streaming statistics, written once),
  ``results`` (the result types), ``scoring`` (partition-independent scoring), ``shards`` and
  ``shards_io`` (``--output-dir``);
* numpy only: ``metrics``, ``evaluation`` (over ``uncertainty``, ``ood``, ``regression``),
  ``calibration`` (over ``scaling`` and ``conformal``), ``calibration_check``, and the
  ``calibrate`` use case; ``diff`` measures deterministic against stochastic behaviour.
"""
