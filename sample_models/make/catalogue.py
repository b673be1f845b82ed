"""The catalogue: every sample the factory makes, declared as data.

A :class:`Sample` names its files, the build step that makes them (``module:step``, one module
per build process: :mod:`~sample_models.make.keras3`, :mod:`~sample_models.make.trained`,
:mod:`~sample_models.make.tfkeras`, :mod:`~sample_models.make.formats`,
:mod:`~sample_models.make.keras1`) and the facts it is expected to have: its model name and its
stochastic sites. :mod:`~sample_models.make.oracle` checks the expected sites against the saved
configs and measures everything else by running the files with Keras; the one writer of
MANIFEST.json (:mod:`~sample_models.make.manifest`) records both.

Site paths are layer names below the outermost model, "/"-joined, with wrappers and nested models
included (``time_distributed/dropout``, ``bidirectional/forward_lstm``, ``model_A/dropout``).
The outermost model's own name is recorded as ``model_name``; dropctl's site paths start with it
(``model_AB/model_A/dropout``), so they are ``model_name + "/" + path``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SEED = 1234
BATCH = 16
VOCAB = 200  # Embedding input_dim of the LSTM model; integer test inputs are drawn below it.
GENERATOR = "sample_models/make_samples.py"
"""How MANIFEST.json says it was made (the committed manifest's words; that script runs
``python -m sample_models.make``)."""


@dataclass(frozen=True)
class Sample:
    """One sample: what it is, which build step writes it and the facts it must have."""

    stem: str
    """Its name (``--only STEM``)."""
    files: tuple[str, ...]
    """The files (or directories) written for it, relative to the output directory."""
    builder: str
    """The build step, ``module:step`` (``python -m sample_models.make.MODULE STEP OUT``)."""
    saved_by: str
    """Which Keras wrote it: keras3, keras3_trained, tf_keras or hand (recorded as is)."""
    model_name: str | None
    """The outermost model's name (None: a Keras 1 config carries none)."""
    shows: str
    """The README's one line."""
    description: str
    """The manifest's longer text."""
    sites: dict[str, Any]
    """Expected stochastic sites: path -> class name and parameters as saved (``params``),
    and, where it matters, the stored call kwargs (``call_kwargs``), the Lambda closure
    (``closure``) or the paths dropctl names for one stored layer (``dropctl_paths``)."""
    kind: Literal["model", "format"] = "model"
    """``model``: one model file, its sites checked in its saved config and measured on the fixed
    batch under Keras 3 and tf-keras; ``format``: a SavedModel, preset, backbone or weights +
    config pair, measured as its users load it (:func:`sample_models.make.oracle.measure_formats`)."""


def _sample(entry: dict[str, Any], builder: str, kind: Literal["model", "format"] = "model"
            ) -> Sample:
    return Sample(stem=entry["stem"], files=tuple(entry["files"]), builder=builder,
                  saved_by=entry["saved_by"], model_name=entry["model_name"],
                  shows=entry["shows"], description=entry["description"], sites=entry["sites"],
                  kind=kind)


# ---------------------------------------------------------------------------------------------
# Ground truth that does not need running: which stochastic sites each artifact has.
# ``sites`` maps path -> (class name as saved, parameters as saved). The keys under "params" are
# the config keys of the saved file ("p" for Keras 1, "rate" for Keras 2/3...). ``call_kwargs``
# is what the functional graph stores for that layer's call (the pinned training=True case).
# ---------------------------------------------------------------------------------------------

MLP_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.5}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.25}},
}
CNN_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.25}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.25}},
    "dropout_2": {"class_name": "Dropout", "params": {"rate": 0.5}},
}
FROZEN_SITES = {
    "model_A/dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
    "model_B/dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
}
PINNED_SITES = {
    "dropout": {
        "class_name": "Dropout",
        "params": {"rate": 0.5},
        "call_kwargs": {"training": True},
    },
}
FAMILY_SITES = {
    "spatial_dropout1d": {"class_name": "SpatialDropout1D", "params": {"rate": 0.1}},
    "gaussian_dropout": {"class_name": "GaussianDropout", "params": {"rate": 0.1}},
    "gaussian_noise": {"class_name": "GaussianNoise", "params": {"stddev": 0.05}},
    "alpha_dropout": {"class_name": "AlphaDropout", "params": {"rate": 0.1}},
    "bidirectional/forward_lstm": {
        "class_name": "LSTM",
        "params": {"dropout": 0.2, "recurrent_dropout": 0.1},
    },
    "bidirectional/backward_lstm": {
        "class_name": "LSTM",
        "params": {"dropout": 0.2, "recurrent_dropout": 0.1},
    },
    "gru": {"class_name": "GRU", "params": {"dropout": 0.2, "recurrent_dropout": 0.0}},
    "multi_head_attention": {"class_name": "MultiHeadAttention", "params": {"dropout": 0.1}},
    "time_distributed/dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "spatial_dropout2d": {"class_name": "SpatialDropout2D", "params": {"rate": 0.2}},
}
BN_SITES = {"dropout": {"class_name": "Dropout", "params": {"rate": 0.4}}}
LAMBDA_SITES = {
    # The closure of PermaDropout(0.3) holds the rate as plain JSON.
    "lambda": {"class_name": "Lambda", "params": {"function_type": "lambda"}, "closure": [0.3]},
}
KERAS1_SITES = {"dropout_1": {"class_name": "Dropout", "params": {"p": 0.5}}}
DIGITS_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.3}},
}
DIABETES_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.2}},
}

# The trained samples: scikit-learn's bundled 8x8 digits (classes 0-7 in distribution, 8 and 9
# held back as out-of-distribution) and its bundled diabetes regression set.
DIGITS_IN_CLASSES = 8
# Digits is easy (98% held-out accuracy from 70% of the data): a model trained on a quarter of
# it makes enough mistakes for the risk-coverage curves to say something.
DIGITS_TEST_SHARE = 0.75
DIABETES_TEST_SHARE = 0.3
TRAINED = {
    "digits": {
        "inputs": "digits_inputs.npy",
        "labels": "digits_labels.npy",
        "ood": "digits_ood.npy",
    },
    "diabetes": {"inputs": "diabetes_inputs.npy", "labels": "diabetes_labels.npy"},
}

# One entry per artifact stem. ``files`` lists the files written for it; ``shows`` is the
# short README line, ``description`` the longer manifest text.
_MODELS: list[dict[str, Any]] = [
    {
        "stem": "mlp",
        "shows": "plain Dropout in a Sequential MLP",
        "files": ["mlp.keras", "mlp.h5"],
        "saved_by": "keras3",
        "model_name": "mlp",
        "description": "Sequential MLP 20 -> Dense(32, relu) -> Dropout(0.5) -> Dense(16) -> "
        "Dropout(0.25) -> Dense(3, softmax).",
        "sites": MLP_SITES,
    },
    {
        "stem": "cnn",
        "shows": "classic MNIST CNN, three Dropout layers",
        "files": ["cnn.keras", "cnn.h5"],
        "saved_by": "keras3",
        "model_name": "cnn",
        "description": "Classic MNIST CNN (Sequential, 28x28x1) with exactly three Dropout "
        "layers (0.25, 0.25, 0.5).",
        "sites": CNN_SITES,
    },
    {
        "stem": "lstm_permadropout_tfkeras",
        "shows": "always-on Lambda PermaDropout(0.3) (bytecode; LSTM has time_major)",
        "files": ["lstm_permadropout_tfkeras.h5"],
        "saved_by": "tf_keras",
        "model_name": "lstm_permadropout",
        "description": "tf-keras functional text model: 12 int tokens -> Embedding(200, 16) -> "
        "LSTM(16) -> Lambda PermaDropout(0.3) (K.dropout, always on) -> Dense(1, sigmoid). "
        "The LSTM config carries time_major, which Keras 3 refuses; the Lambda holds bytecode.",
        "sites": LAMBDA_SITES,
    },
    {
        "stem": "frozen_merged",
        "shows": "Dropout inside frozen nested models (still acts in training)",
        "files": ["frozen_merged.keras", "frozen_merged.h5"],
        "saved_by": "keras3",
        "model_name": "model_AB",
        "description": "Outer functional model_AB: shared Input(8) -> frozen sub-models model_A "
        "and model_B (each Dense(16) -> Dropout(0.3) -> Dense(8), trainable=False) -> "
        "Concatenate -> trainable Dense(4) head. Frozen dropout still acts in training.",
        "sites": FROZEN_SITES,
    },
    {
        "stem": "pinned_training",
        "shows": "`Dropout(0.5)(x, training=True)` saved by Keras 3",
        "files": ["pinned_training.keras"],
        "saved_by": "keras3",
        "model_name": "pinned_training",
        "description": "Functional Input(10) -> Dense(16) -> Dropout(0.5)(x, training=True) -> "
        "Dense(2), saved by Keras 3.",
        "sites": PINNED_SITES,
    },
    {
        "stem": "pinned_training_tfkeras",
        "shows": "`Dropout(0.5)(x, training=True)` saved by tf-keras",
        "files": ["pinned_training_tfkeras.h5"],
        "saved_by": "tf_keras",
        "model_name": "pinned_training",
        "description": "Functional Input(10) -> Dense(16) -> Dropout(0.5)(x, training=True) -> "
        "Dense(2), saved by tf-keras (Keras 2 API).",
        "sites": PINNED_SITES,
    },
    {
        "stem": "family",
        "shows": "every dropout-family layer, wrappers, RNN, attention",
        "files": ["family.keras", "family.h5"],
        "saved_by": "keras3",
        "model_name": "family",
        "description": "Two-input functional model with the whole dropout family: "
        "SpatialDropout1D, GaussianDropout, GaussianNoise, AlphaDropout, "
        "Bidirectional(LSTM(dropout=0.2, recurrent_dropout=0.1)), GRU(dropout=0.2), "
        "MultiHeadAttention(dropout=0.1), TimeDistributed(Dropout(0.2)) on the 'sequence' "
        "input (6x8) and SpatialDropout2D(0.2) on the 'image' input (8x8x3).",
        "sites": FAMILY_SITES,
    },
    {
        "stem": "bn_dropout",
        "shows": "BatchNormalization + Dropout (MC-dropout trap)",
        "files": ["bn_dropout.keras", "bn_dropout.h5"],
        "saved_by": "keras3",
        "model_name": "bn_dropout",
        "description": "Functional Input(12) -> Dense(16) -> BatchNormalization -> Dropout(0.4) "
        "-> Dense(2): training=True also switches BN to batch statistics.",
        "sites": BN_SITES,
    },
    {
        "stem": "no_dropout",
        "shows": "negative control, nothing stochastic",
        "files": ["no_dropout.keras", "no_dropout.h5"],
        "saved_by": "keras3",
        "model_name": "no_dropout",
        "description": "Negative control: Input(6) -> Dense(8) -> Dense(1), nothing stochastic.",
        "sites": {},
    },
    {
        "stem": "digits",
        "shows": "trained 8x8-digit classifier (classes 0-7; 8 and 9 are OOD)",
        "files": ["digits.keras"],
        "saved_by": "keras3_trained",
        "model_name": "digits",
        "description": "scikit-learn's bundled 8x8 digits, trained on classes 0-7 (25% of them, "
        "seeded split): Input(64) raw pixel values 0..16 -> Rescaling(1/16) -> Dense(64, relu) -> "
        "Dropout(0.3) -> Dense(32, relu) -> Dropout(0.3) -> Dense(8, softmax). Held-out inputs "
        "and labels in digits_inputs.npy / digits_labels.npy (uint8 pixels, int64 labels); "
        "every 8 and 9 in digits_ood.npy.",
        "sites": DIGITS_SITES,
    },
    {
        "stem": "diabetes",
        "shows": "trained regressor on scikit-learn's diabetes data (10 features)",
        "files": ["diabetes.keras"],
        "saved_by": "keras3_trained",
        "model_name": "diabetes",
        "description": "scikit-learn's bundled diabetes regression set (442 patients, 10 "
        "standardised features, disease progression 25..346), trained on 70% (seeded split): "
        "Input(10) -> Dense(64, relu) -> Dropout(0.2) -> Dense(64, relu) -> Dropout(0.2) -> "
        "Dense(1) -> Rescaling back to the target's units. Held-out inputs and targets in "
        "diabetes_inputs.npy / diabetes_labels.npy (float32).",
        "sites": DIABETES_SITES,
    },
    {
        "stem": "keras1_style",
        "shows": "hand-written Keras 1 config (`p`, `output_dim`, list-form Sequential)",
        "files": ["keras1_style.json", "keras1_style.h5"],
        "saved_by": "hand",
        "model_name": None,  # Keras 1 list-form Sequential configs carry no model name.
        "description": "Hand-written Keras 1.2.2-style list-form Sequential (Dense output_dim/"
        "input_dim/init, Dropout p=0.5); the .h5 has Keras 1 weight names (dense_1_W). No "
        "Keras can load it; it exists for the static reader.",
        "sites": KERAS1_SITES,
    },
]


# ---- the tf.keras corpus (sample_models/tfkeras/): legacy patterns the loader must rebuild ----
# Each is saved by tf.keras 2.x twice, as .h5 and as tf.keras' own .keras zip. The builder also
# records what tf.keras computed (``reference``: a digest of every weight tensor and predict()
# on the fixed measurement batch), so tests can prove Keras 3 rebuilt the same model bit for bit.
TFKERAS_DIR = "tfkeras"
TFK_NESTED_SITES = {
    "encoder/dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "model_B/dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
    "head_dropout": {"class_name": "Dropout", "params": {"rate": 0.5}},
}
TFK_TRANSFER_SITES = {"dropout": {"class_name": "Dropout", "params": {"rate": 0.3}}}
TFK_LSTM_SITES = {
    "lstm": {"class_name": "LSTM", "params": {"dropout": 0.2, "recurrent_dropout": 0.1}},
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
}
TFK_CONVS_SITES = {
    "spatial_dropout1d": {"class_name": "SpatialDropout1D", "params": {"rate": 0.2}},
    "spatial_dropout2d": {"class_name": "SpatialDropout2D", "params": {"rate": 0.2}},
    "gaussian_noise": {"class_name": "GaussianNoise", "params": {"stddev": 0.1}},
    "gaussian_dropout": {"class_name": "GaussianDropout", "params": {"rate": 0.1}},
    "alpha_dropout": {"class_name": "AlphaDropout", "params": {"rate": 0.1}},
}
TFK_TEXT_SITES = {
    # Stored once in the Keras 2 config; dropctl names both directions Keras builds from it.
    "bidirectional/lstm": {"class_name": "LSTM", "params": {"dropout": 0.2, "recurrent_dropout": 0.1},
                           "dropctl_paths": ["bidirectional/forward_lstm",
                                             "bidirectional/backward_lstm"]},
    "time_distributed/dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "multi_head_attention": {"class_name": "MultiHeadAttention", "params": {"dropout": 0.1}},
    "gru": {"class_name": "GRU", "params": {"dropout": 0.2}},
    "simple_rnn": {"class_name": "SimpleRNN", "params": {"dropout": 0.1}},
}


def _tfk(stem: str, model_name: str, shows: str, description: str, sites: dict[str, Any]) -> dict[str, Any]:
    return {
        "stem": f"tfk_{stem}",
        "shows": shows,
        "files": [f"{TFKERAS_DIR}/{stem}.h5", f"{TFKERAS_DIR}/{stem}.keras"],
        "saved_by": "tf_keras",
        "model_name": model_name,
        "description": description,
        "sites": sites,
    }


_CORPUS: list[dict[str, Any]] = [
    _tfk("nested", "nested",
         "tf.keras nested models: shared Sequential, frozen sub-model called with training=False",
         "Two inputs a, b (8) -> one Sequential 'encoder' (Dense(8, input_shape) -> Dropout(0.2)) "
         "shared by both; a frozen functional 'model_B' (Dense -> BatchNormalization -> "
         "Dropout(0.3)) called with training=False; Concatenate -> Dropout(0.5) -> Dense(2, softmax).",
         TFK_NESTED_SITES),
    _tfk("transfer", "transfer", "tf.keras frozen keras.applications base (MobileNet) + Dropout head",
         "keras.applications.MobileNet(alpha=0.25, 32x32x3, include_top=False, weights=None), "
         "trainable=False, called with training=False (DepthwiseConv2D, BatchNormalization), "
         "GlobalAveragePooling2D -> Dropout(0.3) -> Dense(5, softmax).",
         TFK_TRANSFER_SITES),
    _tfk("lstm", "lstm_seq", "tf.keras Sequential LSTM with input_shape= (batch_input_shape, time_major)",
         "Sequential LSTM(8, input_shape=(10, 4), dropout=0.2, recurrent_dropout=0.1) -> "
         "Dropout(0.2) -> Dense(1): the config carries batch_input_shape and time_major.",
         TFK_LSTM_SITES),
    _tfk("convs", "convs",
         "tf.keras Conv1D/Conv2D/SeparableConv2D/DepthwiseConv2D, BN, SpatialDropout, noise",
         "Two inputs: signal (16x3) -> Conv1D -> SpatialDropout1D(0.2) -> BatchNormalization -> "
         "GlobalMaxPooling1D; image (12x12x3) -> Conv2D -> SeparableConv2D -> DepthwiseConv2D -> "
         "BatchNormalization -> SpatialDropout2D(0.2) -> GlobalAveragePooling2D; Add -> "
         "GaussianNoise(0.1) -> GaussianDropout(0.1) -> AlphaDropout(0.1) -> Dense(3, softmax).",
         TFK_CONVS_SITES),
    _tfk("text", "text",
         "tf.keras Embedding(mask_zero), Bidirectional/TimeDistributed, attention, GRU, Masking",
         "Two inputs: tokens (10 ints) -> Embedding(200, 8, mask_zero=True) -> "
         "Bidirectional(LSTM(4, dropout=0.2, recurrent_dropout=0.1)) -> TimeDistributed(Dropout(0.2)) "
         "-> TimeDistributed(Dense(4)) -> MultiHeadAttention(2, 4, dropout=0.1) -> GRU(4, dropout=0.2); "
         "series (5x3) -> Masking -> SimpleRNN(4, dropout=0.1); Concatenate -> Dense(2, softmax).",
         TFK_TEXT_SITES),
]


SEED_SM_SITES = {
    "lambda": {"class_name": "Lambda", "params": {"function_type": "lambda"}, "closure": [0.3]},
    "lambda_1": {"class_name": "Lambda", "params": {"function_type": "lambda"}, "closure": [0.3]},
}
def _transformer_sites(prefix: str, attention: str, attention_class: str, rate: float
                       ) -> dict[str, Any]:
    return {
        f"{prefix}/{attention}": {"class_name": attention_class, "params": {"dropout": rate}},
        f"{prefix}/self_attention_dropout": {"class_name": "Dropout", "params": {"rate": rate}},
        f"{prefix}/feedforward_dropout": {"class_name": "Dropout", "params": {"rate": rate}},
    }


# keras_hub backbones: the Dropout layers their constructors create (paths as in
# _flatten_layers(); the attention layers' own inner Dropout is the attention site).
BERT_SITES = {"embeddings_dropout": {"class_name": "Dropout", "params": {"rate": 0.1}},
              **_transformer_sites("transformer_layer_0", "self_attention_layer",
                                   "MultiHeadAttention", 0.1),
              **_transformer_sites("transformer_layer_1", "self_attention_layer",
                                   "MultiHeadAttention", 0.1)}
GPT2_SITES = {"embeddings_dropout": {"class_name": "Dropout", "params": {"rate": 0.1}},
              **_transformer_sites("transformer_layer_0", "self_attention",
                                   "CachedMultiHeadAttention", 0.1),
              **_transformer_sites("transformer_layer_1", "self_attention",
                                   "CachedMultiHeadAttention", 0.1)}
VIT_SITES = {
    **{k: v for i in (1, 2) for k, v in {
        f"vit_encoder/transformer_block_{i}/mha": {"class_name": "MultiHeadAttention",
                                                   "params": {"dropout": 0.05}},
        f"vit_encoder/transformer_block_{i}/dropout": {"class_name": "Dropout",
                                                       "params": {"rate": 0.1}},
        f"vit_encoder/transformer_block_{i}/mlp/dropout": {"class_name": "Dropout",
                                                           "params": {"rate": 0.1}},
    }.items()},
    "vit_encoder/dropout": {"class_name": "Dropout", "params": {"rate": 0.1}},
}
_FORMATS: list[dict[str, Any]] = [
    {
        "stem": "seed_lstm_savedmodel",
        "shows": "the seed case as a TF SavedModel: two Lambda PermaDropout(0.3)",
        "files": ["seed_lstm_savedmodel"],
        "saved_by": "tf_keras",
        "model_name": "seed_lstm",
        "description": "tf-keras Sequential text model saved with model.save(dir) (SavedModel): "
        "12 int tokens -> Embedding(200, 16) -> LSTM(16) -> Lambda PermaDropout(0.3) -> "
        "Dense(8, relu) -> Lambda PermaDropout(0.3) -> Dense(1, sigmoid).",
        "sites": SEED_SM_SITES,
    },
    {
        "stem": "bert_tiny_preset",
        "shows": "keras_hub preset directory: tiny BertBackbone(dropout=0.1)",
        "files": ["bert_tiny_preset"],
        "saved_by": "keras3",
        "model_name": "bert_backbone",
        "description": "keras_hub BertBackbone(vocabulary_size=100, num_layers=2, num_heads=2, "
        "hidden_dim=8, intermediate_dim=16, dropout=0.1, max_sequence_length=16), "
        "save_to_preset(dir): config.json, metadata.json, model.weights.h5.",
        "sites": BERT_SITES,
    },
    {
        "stem": "gpt2_tiny",
        "shows": "keras_hub GPT2Backbone(dropout=0.1) inside a .keras file",
        "files": ["gpt2_tiny.keras"],
        "saved_by": "keras3",
        "model_name": "gpt2_backbone",
        "description": "keras_hub GPT2Backbone(vocabulary_size=100, num_layers=2, num_heads=2, "
        "hidden_dim=8, intermediate_dim=16, dropout=0.1, max_sequence_length=16), model.save().",
        "sites": GPT2_SITES,
    },
    {
        "stem": "vit_tiny",
        "shows": "keras_hub ViTBackbone (image) with dropout and attention dropout",
        "files": ["vit_tiny.keras"],
        "saved_by": "keras3",
        "model_name": "vit_backbone",
        "description": "keras_hub ViTBackbone(image_shape=(16, 16, 3), patch_size=8, "
        "num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16, dropout_rate=0.1, "
        "attention_dropout=0.05), model.save().",
        "sites": VIT_SITES,
    },
    {
        "stem": "mlp_pair",
        "shows": "model.json + model.weights.h5 side by side (save_weights)",
        "files": ["mlp_pair"],
        "saved_by": "keras3",
        "model_name": "mlp",
        "description": "The mlp sample as a directory: model.to_json() in model.json and "
        "model.save_weights() in model.weights.h5.",
        "sites": MLP_SITES,
    },
]


_MODEL_BUILDERS = {"keras3": "keras3:models", "keras3_trained": "trained:models",
                   "tf_keras": "tfkeras:models", "hand": "keras1:models"}

SAMPLES: tuple[Sample, ...] = (
    *(_sample(e, _MODEL_BUILDERS[e["saved_by"]]) for e in _MODELS),
    *(_sample(e, "formats:tfkeras" if e["saved_by"] == "tf_keras" else "formats:keras3", "format")
      for e in _FORMATS),
    *(_sample(e, "tfkeras:corpus") for e in _CORPUS),
)
"""Every sample, in MANIFEST.json order."""

BY_STEM = {s.stem: s for s in SAMPLES}
