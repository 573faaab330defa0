"""Helpers shared by test modules (keras-hub keeps its equivalents on one `TestCase`)."""

import keras
import numpy as np


def to_numpy(x):
    """A tensor of any backend (or of tf.data) as NumPy; torch tensors are detached first."""
    return keras.ops.convert_to_numpy(x)


def run_model_saving_test(model, inputs, tmp_path, cls, atol=1e-6):
    """Saves `model` to `.keras`, reloads it without compiling, checks its class and that it
    predicts `inputs` as the original does (float32 rounding aside); returns the reloaded model."""
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    assert isinstance(restored, cls)
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), model.predict(inputs, verbose=0), rtol=0, atol=atol)
    return restored
