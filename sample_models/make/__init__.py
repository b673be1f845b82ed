"""The sample factory: ``python -m sample_models.make`` (re)builds ``sample_models/``.

One module per build process, each run in its own interpreter through an explicit entry point
(:mod:`~sample_models.make.process`): :mod:`~sample_models.make.keras3` (untrained Keras 3
models), :mod:`~sample_models.make.trained` (digits, diabetes), :mod:`~sample_models.make.tfkeras`
(tf-keras models and the tf.keras corpus), :mod:`~sample_models.make.formats` (SavedModel,
keras_hub, weights + config) and :mod:`~sample_models.make.keras1` (hand-made, h5py only, in the
parent). :mod:`~sample_models.make.catalogue` declares every sample and its expected facts;
:mod:`~sample_models.make.oracle` checks and measures them without dropctl; and
:mod:`~sample_models.make.manifest` is the one writer of MANIFEST.json. The pipeline itself is
:mod:`~sample_models.make.__main__`.

Running it twice gives identical configs and weights, with one exception Keras itself
introduces: ``.keras`` config.json stores ``shared_object_id`` (a Python ``id()`` of the shared
dtype policy), and ``metadata.json`` a save date. The ``.h5`` files come out byte-identical.
"""
