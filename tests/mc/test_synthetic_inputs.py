"""Synthetic inputs fit what the model needs, with Keras as the oracle: its predict() runs on them.

A free (None) dimension gets 8 by default, the declared ``max_sequence_length`` when that is
shorter, and more where the model cannot take 8: a strided conv stem on raw audio (Moonshine's
Conv1D kernel 127 stride 64, then 7/3 and 3/2) needs hundreds of samples. Only the inputs that
need the length get it; a padding mask stays as long as the inputs it marks.
"""

from __future__ import annotations

import numpy as np
import pytest

import dropctl
from dropctl.mc.inputs import model_input_specs, synthetic_inputs


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def _predict(model, arrays):
    from dropctl.runtime.compat import as_model_inputs

    return model.predict(as_model_inputs(model, arrays), verbose=0)


@pytest.fixture(scope="module")
def audio_stem(keras):
    """Moonshine's stem on a free-length raw-audio input, then a dropout head."""
    x = keras.Input((None, 1), name="audio")
    h = keras.layers.Conv1D(4, 127, strides=64, activation="tanh")(x)
    h = keras.layers.Conv1D(4, 7, strides=3, activation="gelu")(h)
    h = keras.layers.Conv1D(4, 3, strides=2, activation="gelu")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    return keras.Model(x, keras.layers.Dense(2)(h), name="stem")


def test_a_strided_conv_stem_gets_the_samples_it_needs(audio_stem) -> None:
    specs = model_input_specs(audio_stem)
    arrays = synthetic_inputs(specs, 2, 0)
    # kernel 127 stride 64, 7/3, 3/2 leave one step from 639 samples: 8 is far too few
    assert arrays[0].shape[0] == 2 and arrays[0].shape[1] >= 639
    assert _predict(audio_stem, arrays).shape == (2, 2)
    result = dropctl.mc_predict(audio_stem, synthetic=2, samples=4, seed=0)
    assert result.complete and float(np.max(result.outputs[0].std)) > 0


def test_an_image_stem_grows_both_free_dimensions(keras) -> None:
    x = keras.Input((None, None, 2), name="image")
    h = keras.layers.Conv2D(3, 5, strides=2)(x)
    h = keras.layers.MaxPooling2D(4)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(x, keras.layers.Dense(1)(h))
    specs = model_input_specs(model)
    arrays = synthetic_inputs(specs, 3, 0)
    assert arrays[0].shape[1] == arrays[0].shape[2] > 8
    assert _predict(model, arrays).shape == (3, 1)


def test_only_the_inputs_that_need_it_grow_and_masks_follow_them(keras) -> None:
    """Moonshine's four inputs: the audio and its mask grow, the decoder's tokens stay short."""
    audio = keras.Input((None, 1), name="encoder_input_values")
    audio_mask = keras.Input((None,), name="encoder_padding_mask", dtype="bool")
    tokens = keras.Input((None,), name="decoder_token_ids", dtype="int32")
    token_mask = keras.Input((None,), name="decoder_padding_mask", dtype="bool")
    h = keras.layers.Conv1D(4, 127, strides=64)(audio)
    h = keras.layers.GlobalAveragePooling1D()(h)
    real = keras.ops.sum(keras.ops.cast(audio_mask, "float32"), axis=1, keepdims=True)
    t = keras.layers.Embedding(10, 4)(tokens)
    t = t * keras.ops.expand_dims(keras.ops.cast(token_mask, "float32"), -1)
    t = keras.layers.GlobalAveragePooling1D()(t)
    out = keras.layers.Dense(2)(keras.layers.Concatenate()([h, t, real]))
    model = keras.Model({"encoder_input_values": audio, "encoder_padding_mask": audio_mask,
                         "decoder_token_ids": tokens, "decoder_padding_mask": token_mask}, out)
    specs = model_input_specs(model)
    arrays = dict(zip([s.name for s in specs], synthetic_inputs(specs, 2, 0), strict=True))
    n = arrays["encoder_input_values"].shape[1]
    assert n >= 127
    assert arrays["encoder_padding_mask"].shape == (2, n) and arrays["encoder_padding_mask"].all()
    assert arrays["decoder_token_ids"].shape == arrays["decoder_padding_mask"].shape == (2, 8)
    assert _predict(model, list(arrays.values())).shape == (2, 2)


def test_a_model_without_a_minimum_keeps_eight(keras) -> None:
    x = keras.Input((None, 3), name="steps")
    h = keras.layers.Conv1D(4, 3)(x)
    h = keras.layers.LSTM(4, dropout=0.2)(h)
    model = keras.Model(x, keras.layers.Dense(1)(h))
    [x8] = synthetic_inputs(model_input_specs(model), 2, 0)
    assert x8.shape == (2, 8, 3)
    assert model.predict(x8, verbose=0).shape == (2, 1)


def test_a_model_that_refuses_every_length_keeps_eight_and_keras_says_why(keras) -> None:
    """4 * 2**k values never split into rows of 3: no length helps, so the draw keeps the
    default and Keras' own error is what the user sees."""
    x = keras.Input((None, 4), name="steps")
    model = keras.Model(x, keras.layers.Reshape((-1, 3))(x))
    [x8] = synthetic_inputs(model_input_specs(model), 1, 0)
    assert x8.shape == (1, 8, 4)
    with pytest.raises(ValueError, match="3"):
        model.predict(x8, verbose=0)


@pytest.fixture(scope="module")
def rows_of_three(keras, tmp_path_factory):
    """A saved model that takes only lengths whose 4 values a step split into rows of 3 (3,
    6, ...): no draw of 8 * 2**k steps fits it."""
    x = keras.Input((None, 4), name="steps")
    h = keras.layers.Dense(2)(keras.layers.Reshape((-1, 3))(x))
    h = keras.layers.Dropout(0.5, name="drop")(keras.layers.GlobalAveragePooling1D()(h))
    path = tmp_path_factory.mktemp("rows_of_three") / "rows.keras"
    keras.Model(x, h, name="rows_of_three").save(path)
    return path


@pytest.mark.parametrize("command", ["mc-predict", "diff"])
def test_inputs_a_model_rejects_end_in_one_line_naming_where_they_came_from(
        command, rows_of_three, tmp_path, cli_runner) -> None:
    """Keras' Reshape fails on 8 steps (32 values) and on a file's 7 (28): the user reads one
    line naming the model, each input's shape and Keras' reason, exit code 2, never "internal
    error"; a drawn input says what to pass instead, a file's names the file. 6 steps run."""
    from dropctl.cli import app

    np.save(tmp_path / "seven.npy", np.ones((2, 7, 4), "float32"))
    np.save(tmp_path / "six.npy", np.ones((2, 6, 4), "float32"))
    for source, said in ((["--synthetic", "2"], "rejects the synthetic inputs drawn from the "
                          "inputs it declares (steps (2, 8, 4) float32)"),
                         (["--input", str(tmp_path / "seven.npy")],
                          f"rejects the inputs in {tmp_path / 'seven.npy'} (steps (2, 7, 4) "
                          "float32)")):
        run = cli_runner.invoke(app, [command, str(rows_of_three), *source, "--samples", "2"])
        lines = run.stderr.strip().splitlines()
        assert run.exit_code == 2, run.stderr
        assert len(lines) == 1 and "internal error" not in lines[0], lines
        assert f"model 'rows_of_three' {said}: ValueError" in lines[0], lines[0]
        assert "Reshape" in lines[0]
        assert lines[0].endswith("pass real inputs (--input FILE)") == (source[0] == "--synthetic")
    run = cli_runner.invoke(app, [command, str(rows_of_three), "--input",
                                  str(tmp_path / "six.npy"), "--samples", "2"])
    assert run.exit_code in (0, 1), run.stderr
