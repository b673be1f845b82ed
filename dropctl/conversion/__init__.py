"""``dropctl convert``: rewrite a saved model so its dropout is always on, standard or gone.

Data flows down this list; only the last three import Keras (inside functions):

* :mod:`~dropctl.conversion.report`: the result vocabulary (modes, actions, one row per site,
  the report, the verdict on a custom class);
* :mod:`~dropctl.conversion.plan`: what each selected site becomes, one function per mode over
  a frozen site context (pure, no Keras; ``--dry-run`` stops here);
* :mod:`~dropctl.conversion.surgery`: the in-place edits on the copied config (class, pins,
  rates, removing a layer by rewiring its consumers);
* :mod:`~dropctl.conversion.hub`: keras_hub models, whose dropout is a constructor parameter;
* :mod:`~dropctl.conversion.target`: writing a config an older Keras accepts (``--target-keras``);
* :mod:`~dropctl.conversion.run`: the use case behind ``dropctl.convert`` (paths, plan, build);
* :mod:`~dropctl.conversion.custom`: whether a custom class (``MCDropout``) is the Keras dropout
  layer it extends, measured with ``--custom-objects``;
* :mod:`~dropctl.conversion.build`: build the rewritten model, copy weights bit for bit, write
  atomically; :mod:`~dropctl.conversion.verify` reloads OUT and predicts;
* :mod:`~dropctl.conversion.calibrated`: ``--perma --calibration``, a calibration baked in.
"""
