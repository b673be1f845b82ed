"""The other artifact forms: a tf.keras SavedModel, keras_hub presets and backbones, weights +
config pairs. Two processes (tf.keras and Keras 3):

``python -m sample_models.make.formats tfkeras|keras3 OUT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sample_models.make import tfkeras
from sample_models.make.catalogue import SEED, VOCAB
from sample_models.make.process import inputs_of, step_main
from sample_models.make.tfkeras import perma_dropout


def build_tfkeras(here: Path, only: set[str] | None = None) -> dict[str, Any]:  # noqa: ARG001 - step_main passes only=
    """The seed case as a tf.keras SavedModel directory."""
    import shutil

    import tensorflow as tf
    import tf_keras as keras
    from tf_keras import backend, layers

    tfkeras.K = backend  # the recipe's lambda looks K up in its module's globals
    keras.utils.set_random_seed(SEED)
    tf.random.set_seed(SEED)
    lambdas = [perma_dropout(0.3, "seed_lstm_savedmodel") for _ in range(2)]
    model = keras.Sequential([
        keras.Input((12,), dtype="int32", name="tokens"),
        layers.Embedding(VOCAB, 16, name="embedding"),
        layers.LSTM(16, name="lstm"),
        lambdas[0],
        layers.Dense(8, activation="relu", name="dense"),
        lambdas[1],
        layers.Dense(1, activation="sigmoid", name="dense_1"),
    ], name="seed_lstm")
    model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="binary_crossentropy")
    target = here / "seed_lstm_savedmodel"
    shutil.rmtree(target, ignore_errors=True)
    model.save(str(target))  # no extension: tf.keras 2.x writes a SavedModel directory
    return {"seed_lstm_savedmodel": {"inputs": inputs_of(model), "model_name": model.name}}


def build_keras3(here: Path, only: set[str] | None = None) -> dict[str, Any]:  # noqa: ARG001 - step_main passes only=
    """keras_hub preset and backbones, and the mlp sample as model.json + weights (after the
    Keras 3 step wrote mlp.keras)."""
    import shutil

    import keras
    import keras_hub

    out: dict[str, Any] = {}
    keras.utils.set_random_seed(SEED)
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
        dropout=0.1, max_sequence_length=16, name="bert_backbone")
    target = here / "bert_tiny_preset"
    shutil.rmtree(target, ignore_errors=True)
    bert.save_to_preset(str(target))
    out["bert_tiny_preset"] = {"inputs": inputs_of(bert), "model_name": bert.name}
    keras.utils.set_random_seed(SEED)
    gpt2 = keras_hub.models.GPT2Backbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
        dropout=0.1, max_sequence_length=16, name="gpt2_backbone")
    gpt2.save(str(here / "gpt2_tiny.keras"))
    out["gpt2_tiny"] = {"inputs": inputs_of(gpt2), "model_name": gpt2.name}
    keras.utils.set_random_seed(SEED)
    vit = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=8,
        mlp_dim=16, dropout_rate=0.1, attention_dropout=0.05, name="vit_backbone")
    vit.save(str(here / "vit_tiny.keras"))
    out["vit_tiny"] = {"inputs": inputs_of(vit), "model_name": vit.name}
    mlp = keras.models.load_model(here / "mlp.keras")
    target = here / "mlp_pair"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    (target / "model.json").write_text(mlp.to_json())
    mlp.save_weights(str(target / "model.weights.h5"))
    out["mlp_pair"] = {"inputs": inputs_of(mlp), "model_name": mlp.name}
    return out


if __name__ == "__main__":
    step_main({"tfkeras": build_tfkeras, "keras3": build_keras3})
