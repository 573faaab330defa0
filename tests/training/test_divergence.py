"""A non-finite training loss stops the run: `DivergenceError`, exit code 3, no model or report."""

import math
import pathlib

import numpy as np
import pytest

from keras_clx.errors import ClxError, DivergenceError
from keras_clx.recipes import Recipe, apply_overrides
from keras_clx.training.divergence import DivergenceGuard

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_guard_passes_finite_losses_and_names_epoch_step_and_settings():
    guard = DivergenceGuard({"train.learning_rate": 0.5, "train.dtype_policy": "float16"})
    guard.set_params({"epochs": 2, "steps": 7})
    guard.on_epoch_begin(1)
    guard.on_train_batch_end(0, {"loss": 1.25})
    guard.on_train_batch_end(1, {})
    for bad in (math.nan, math.inf, np.float32("-inf")):
        with pytest.raises(DivergenceError) as raised:
            guard.on_train_batch_end(4, {"loss": bad})
        message = str(raised.value)
        assert "\n" not in message
        assert "at epoch 2, step 5 of 7" in message
        assert "train.learning_rate=0.5, train.dtype_policy=float16" in message
    assert DivergenceError.exit_code == 3 and issubclass(DivergenceError, ClxError)


def test_hints_from_the_recipe():
    plain = DivergenceGuard.from_recipe(apply_overrides(Recipe(), ["train.learning_rate=0.02"]))
    assert plain.hints == {"train.learning_rate": 0.02, "train.dtype_policy": "float32"}
    adversarial = DivergenceGuard.from_recipe(apply_overrides(Recipe(), ["train.perturbation=adversarial"]))
    assert adversarial.hints["train.epsilon"] == 0.05


def test_fit_stops_at_the_first_non_finite_loss():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((12, 2), "float32")
    x[5] = np.nan  # the third batch of two
    seen = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    with pytest.raises(DivergenceError, match="at epoch 1, step 3 of 6"):
        model.fit(
            x,
            np.zeros((12, 1)),
            batch_size=2,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[DivergenceGuard(), counter],
        )
    assert len(seen) < 12  # stopped within the first epoch


@pytest.mark.one_backend
@pytest.mark.slow
def test_cli_exits_3_with_one_line_and_no_report(tmp_path):
    """A finite but absurd learning rate (1e30) makes a tiny demo fit produce NaN at step 2."""
    from click.testing import CliRunner

    from keras_clx.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "--quiet",
            "fit",
            str(REPO_ROOT / "recipes" / "demo.py"),
            "--set",
            "data.options={'train_size': 32, 'dev_size': 8, 'test_size': 8, 'unlabeled_size': 8}",
            "--set",
            "model.sequence_length=8",
            "--set",
            "model.vocabulary_size=100",
            "--set",
            "train.epochs=2",
            "--set",
            "train.batch_size=8",
            "--set",
            "train.learning_rate=1e30",
            "--set",
            "train.warmup_ratio=0",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 3, result.output
    assert not isinstance(result.exception, Exception)  # a clean exit, no traceback
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith("error: training diverged: loss nan at epoch 1, step ")
    assert "train.learning_rate=1e+30" in errors[0]
    assert not out.exists()  # a failed fit leaves no run directory (and so claims no result)
    assert not list(tmp_path.glob(".run.partial-*"))
