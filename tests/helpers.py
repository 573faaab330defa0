"""Helpers shared by test modules (keras-hub keeps its equivalents on one `TestCase`)."""

import pathlib

import keras
import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


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


def tiny_demo_recipe(*overrides, unlabeled_size=32):
    """The demo recipe small enough to train in seconds, with extra `--set` overrides."""
    from keras_clx.recipes import apply_overrides, load_recipe

    recipe = load_recipe(str(REPO_ROOT / "recipes" / "demo.py"))
    recipe.data.options = dict(train_size=96, dev_size=16, test_size=24, unlabeled_size=unlabeled_size)
    return apply_overrides(
        recipe,
        [
            "model.sequence_length=16",
            "model.vocabulary_size=300",
            "train.epochs=1",
            "train.batch_size=16",
            "eval.batch_size=32",
            *overrides,
        ],
    )
