"""``dropctl check``: the CI gate that judges saved models against a dropout policy.

* :mod:`~dropctl.policy.config`: policies, ``[tool.dropctl]`` configuration and its discovery;
  :mod:`~dropctl.policy.globs`: the path globs of per-path overrides;
* :mod:`~dropctl.policy.discover`: which artifacts the given paths, directories and globs name;
* :mod:`~dropctl.policy.results`: the result vocabulary (one verdict per artifact, the report);
* :mod:`~dropctl.policy.evaluate`: the violations of one inspected model, across Keras versions;
* :mod:`~dropctl.policy.run`: the use case behind ``dropctl.check`` (targets, one artifact at a
  time, in worker processes with :mod:`~dropctl.policy.workers`);
* :mod:`~dropctl.policy.probe`: ``--probe``, the gate's one runtime part (loads the model).

Static unless ``--probe``: nothing here imports TensorFlow or Keras on the check path.
"""
