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

Running it twice gives identical configs and weights, with the exceptions Keras and TensorFlow
introduce: ``.keras`` config.json stores ``shared_object_id`` (a Python ``id()`` of the shared
dtype policy) and ``metadata.json`` a save date; a SavedModel's ``saved_model.pb`` holds random
UUIDs (TensorFlow's LSTM function names) and its ``fingerprint.pb`` their hash. The ``.h5``,
``.npy`` and ``.json`` files, the SavedModel's ``keras_metadata.pb`` and variables come out
byte-identical (measured against the committed ones); the measured facts are compared by
``--check``.
"""
