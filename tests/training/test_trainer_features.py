"""Training as Keras and Hugging Face users expect: checkpoints and --resume, best-epoch selection,
per-epoch dev scores and curves, clipping, accumulation, schedules, label smoothing, TensorBoard."""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from keras_clx import run_dir

# Loading a run's model.keras without compiling skips its optimizer (a harmless Keras warning).
pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")

REPO = pathlib.Path(__file__).resolve().parents[2]
# Adversarial step with instance weighting (paired batches), dropout on, a step checkpoint mid-epoch.
FEATURES = [
    "train.epochs=2",
    "train.perturbation=adversarial",
    "train.instance_weighting=cosine",
    "train.checkpoint_every_steps=2",
    "train.tensorboard=true",
]  # monitor last: the final epoch's weights


def _weights(directory):
    import keras

    import keras_clx.models  # noqa: F401

    model = keras.saving.load_model(pathlib.Path(directory) / run_dir.MODEL, compile=False)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _log_rows(directory):
    with open(pathlib.Path(directory) / run_dir.TRAINING_LOG, newline="") as f:
        return list(csv.DictReader(f))


def _scores(directory):
    report = json.loads((pathlib.Path(directory) / "report.json").read_text())
    return [(row["language"], row["metrics"]) for row in report["languages"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with every feature on (shared by the tests below)."""
    from keras_clx import experiment
    from keras_clx.recipes import apply_overrides, load_recipe

    recipe = load_recipe(str(REPO / "recipes" / "demo.py"))
    recipe.data.options = {"train_size": 96, "dev_size": 16, "test_size": 24, "unlabeled_size": 32}
    recipe = apply_overrides(
        recipe,
        [
            "model.sequence_length=16",
            "model.vocabulary_size=300",
            "train.batch_size=16",
            "eval.batch_size=32",
            *FEATURES,
        ],
    )
    out = tmp_path_factory.mktemp("reference") / "run"
    experiment.fit(recipe, out, verbose=0)
    return recipe, out


SCRIPT = """
import sys, time, keras
from keras_clx import experiment
from keras_clx.recipes import Recipe

class Pause(keras.callbacks.Callback):  # waits to be killed after the checkpoint at epoch 2, step 2
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == 1 and batch == 2:
            time.sleep(300)

experiment.fit(Recipe.from_json(sys.argv[1]), sys.argv[2], verbose=0, callbacks=[Pause()])
"""


def test_a_fit_killed_mid_epoch_resumes_to_the_same_weights_and_report(reference, tmp_path):
    from keras_clx import experiment

    recipe, expected = reference
    recipe.to_json(tmp_path / "recipe.json")
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path / "recipe.json"), str(out)],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    checkpoint = tmp_path / f".run.partial-{process.pid}" / run_dir.CHECKPOINTS / "step-8.npz"
    deadline = time.time() + 400
    while not checkpoint.is_file() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert not out.exists() and run_dir.resumable_run(out) is not None  # the killed run's staging directory

    run = experiment.fit(recipe, out, verbose=0, resume=True)
    assert run.directory == out and run_dir.RunDir(out).is_finished
    for a, b in zip(_weights(expected), _weights(out), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert _scores(out) == _scores(expected)
    assert [r["epoch"] for r in _log_rows(out)] == ["0", "1"]  # each epoch logged once
    assert not (out / run_dir.CHECKPOINTS).exists()  # a finished run keeps no checkpoints
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_every_language_is_scored_per_epoch_and_drawn(reference):
    _, out = reference
    rows = _log_rows(out)
    assert {f"dev_{lang}_accuracy" for lang in ("source", "near", "mid", "far")} <= set(rows[0])
    assert {"source_dev", "target_dev"} <= set(rows[0])
    assert (out / run_dir.CURVES).stat().st_size > 1000


def test_tensorboard_event_files_hold_the_named_scalars(reference):
    import tensorflow as tf

    _, out = reference
    tags = {}
    for path in (out / run_dir.TENSORBOARD).rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.setdefault((path.parent.name, value.tag), []).append(event.step)
    for tag in (
        "loss",
        "clean_loss",
        "adv_loss",
        "weight_ess",
        "learning_rate",
        "target_dev",
        "dev_near_accuracy",
        "dev_source_macro_f1",
    ):
        assert tags.get(("train", f"epoch_{tag}")) == [0, 1], tag
    assert tags.get(("validation", "epoch_loss")) == [0, 1]


def scripted_monitor(values):
    """A callback that writes scripted monitor values into the epoch logs and remembers the weights."""
    import keras

    class Scripted(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights = []

        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = values[epoch]
            self.weights.append([keras.ops.convert_to_numpy(v.value) for v in self.model.variables])

    return Scripted()


def test_best_epoch_restores_the_peak_and_stops_after_patience(tmp_path):
    import keras

    from keras_clx.training.epoch_eval import BestEpoch

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.zeros((32, 2))
    scripted = scripted_monitor([0.5, 0.9, 0.6, 0.4, 0.3, 0.2])  # peaks at epoch 1
    best = BestEpoch("score", patience=1, directory=tmp_path, verbose=0)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[scripted, best])
    assert history.epoch == [0, 1, 2, 3]  # two epochs without improvement > patience 1
    assert best.summary()["best_epoch"] == 1 and best.summary()["stopped_early"]
    for a, b in zip(model.variables, scripted.weights[1]):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a.value), b)
    assert [p.name for p in tmp_path.iterdir()] == ["best-1.npz"]  # what a resumed run restores


def _train(classifier, batch, optimizer, transfer, batches):
    from keras_clx.training.steps import TransferConfig

    model = classifier(seed=0, dropout=0.0, weights="numpy")
    model.compile(optimizer, transfer=TransferConfig(**transfer) if transfer else None)
    before = [np.array(w) for w in model.get_weights()]
    for x, y in batches:
        model.train_on_batch(x, y)
    return before, model.get_weights()


@pytest.mark.parametrize("transfer", [None, {"perturbation": "adversarial", "epsilon": 0.5}])
def test_clipping_bounds_the_applied_update(classifier, batch, transfer):
    from keras_clx.training.optimization import SGD

    data = [batch(8, seed=1)]
    for clip, bounded in ((1e-3, True), (None, False)):
        before, after = _train(classifier, batch, SGD(1.0, global_clipnorm=clip), transfer, data)
        norm = float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(after, before))))
        assert (norm <= 1e-3 * (1 + 1e-4)) == bounded, norm


@pytest.mark.parametrize("transfer", [None, {"perturbation": "adversarial", "epsilon": 0.5}])
def test_accumulating_k_batches_is_one_step_on_the_k_times_larger_batch(classifier, batch, transfer):
    """Keras's `gradient_accumulation_steps` (what `train.accumulation_steps` sets) under each train step:
    SGD, so that the update is linear in the gradient; the clipping applies to the mean gradient."""
    from keras_clx.training.optimization import SGD

    def optimizer(accumulation):
        return SGD(0.5, global_clipnorm=0.5, gradient_accumulation_steps=accumulation)

    parts = [batch(8, seed=s) for s in (1, 2, 3)]
    whole = ({k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}, np.concatenate([p[1] for p in parts]))
    _, accumulated = _train(classifier, batch, optimizer(3), transfer, parts)
    before, large = _train(classifier, batch, optimizer(None), transfer, [whole])
    assert max(float(np.abs(a - b).max()) for a, b in zip(large, before)) > 1e-3  # it trained
    for a, b in zip(accumulated, large):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_learning_rate_schedules():
    import keras

    from keras_clx.training.optimization import learning_rate_schedule

    def at(schedule, step):
        return float(keras.ops.convert_to_numpy(schedule(step))) if callable(schedule) else schedule

    linear = learning_rate_schedule("linear", 1.0, total_steps=100, warmup_ratio=0.1)
    assert [at(linear, s) for s in (0, 5, 10, 55, 100, 120)] == pytest.approx([0, 0.5, 1, 0.5, 0, 0])
    cosine = learning_rate_schedule("cosine", 1.0, total_steps=100, warmup_ratio=0.1)
    assert [at(cosine, s) for s in (10, 55, 100)] == pytest.approx([1, 0.5, 0], abs=1e-6)
    assert at(learning_rate_schedule("constant", 0.3, 100, 0.1), 50) == 0.3


def test_label_smoothing_is_the_smoothed_cross_entropy(classifier, batch):
    import keras

    from keras_clx.training.losses import SmoothedSparseCrossentropy

    model = classifier(seed=0, dropout=0.0)
    x, y = batch(8)
    logits = model.classify(keras.tree.map_structure(keras.ops.convert_to_tensor, x))[0]
    model.compile(label_smoothing=0.2)
    expected = keras.losses.categorical_crossentropy(
        keras.ops.one_hot(y, 3), logits, from_logits=True, label_smoothing=0.2
    )
    got = model.per_example_loss(y, logits)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected), rtol=1e-5)
    assert isinstance(model.loss, SmoothedSparseCrossentropy)
    model.compile()
    plain = keras.ops.convert_to_numpy(model.per_example_loss(y, logits))
    assert not np.allclose(plain, keras.ops.convert_to_numpy(got))


def test_recipe_fields_reach_the_optimizer_and_are_checked():
    from keras_clx.errors import RecipeError
    from keras_clx.recipes import Recipe, apply_overrides
    from keras_clx.training.optimization import build_optimizer

    recipe = apply_overrides(Recipe(), ["train.clip_norm=0.5", "train.accumulation_steps=4"])
    optimizer = build_optimizer(recipe.train, batches=40)
    assert optimizer.global_clipnorm == 0.5 and optimizer.gradient_accumulation_steps == 4
    assert build_optimizer(Recipe().train, batches=4).global_clipnorm == 1.0  # HF Trainer's default
    for override, message in (
        ("train.monitor=dev:xx", "train.monitor"),
        ("train.patience=2", "train.patience"),
        ("train.lr_schedule=step", "train.lr_schedule"),
        ("train.label_smoothing=1", "train.label_smoothing"),
    ):
        with pytest.raises(RecipeError, match=message):
            apply_overrides(Recipe(), [override])
    apply_overrides(Recipe(), ["train.monitor=dev:near", "train.patience=0"])


def _loo_recipe(tmp_path):
    """Leave-one-out over three table languages cut from the demo corpus's source language."""
    from keras_clx.data.demo import make_demo_corpus
    from keras_clx.recipes import Recipe, apply_overrides

    corpus = make_demo_corpus(train_size=96, dev_size=24, test_size=24, unlabeled_size=8)
    source = corpus.languages[corpus.sources[0]]
    files = {}
    for i, lang in enumerate(("aa", "bb", "cc")):
        files[lang] = {}
        for split, examples in (
            ("train", source.train[32 * i : 32 * (i + 1)]),
            ("dev", source.dev[8 * i : 8 * (i + 1)]),
            ("test", source.test[8 * i : 8 * (i + 1)]),
        ):
            name = f"{lang}-{split}.tsv"
            (tmp_path / name).write_text("text\tlabel\n" + "".join(f"{e.text}\t{e.label}\n" for e in examples))
            files[lang][split] = name
    recipe = Recipe()
    recipe.data.options = {"files": files}
    return apply_overrides(
        recipe,
        [
            "data.dataset=table",
            f"data.data_dir={tmp_path}",
            "data.sources=aa",
            "data.targets=bb,cc",
            "data.leave_one_out=true",
            "model.sequence_length=16",
            "model.vocabulary_size=300",
            "train.epochs=2",
            "train.batch_size=16",
            "train.epoch_eval=false",
            "eval.batch_size=32",
        ],
    )


def test_leave_one_out_resumes_an_interrupted_sub_run(tmp_path):
    import keras

    from keras_clx import experiment, runs
    from keras_clx.multisource import leave_one_out_recipes

    class Interrupt(keras.callbacks.Callback):  # in the second sub-run, after its first epoch
        calls = 0

        def on_train_begin(self, logs=None):
            Interrupt.calls += 1

        def on_epoch_begin(self, epoch, logs=None):
            if Interrupt.calls == 2 and epoch == 1:
                raise KeyboardInterrupt

    recipe = _loo_recipe(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        runs.fit(recipe, tmp_path / "run", verbose=0, callbacks=[Interrupt()])
    assert run_dir.RunDir(tmp_path / "run" / "cc").has_checkpoint
    run = runs.fit(recipe, tmp_path / "run", verbose=0, resume=True)
    assert run.directory == tmp_path / "run" and not (tmp_path / "run" / "cc" / run_dir.CHECKPOINTS).exists()
    # The resumed sub-run ends as the same sub-run trained without interruption.
    target, sub = leave_one_out_recipes(recipe)[1]
    experiment.fit(sub, tmp_path / "expected", verbose=0)
    assert target == "cc" and _scores(tmp_path / "run" / "cc") == _scores(tmp_path / "expected")
    for a, b in zip(_weights(tmp_path / "expected"), _weights(tmp_path / "run" / "cc"), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def _tags(directory):
    import tensorflow as tf

    tags = {}
    for path in (pathlib.Path(directory) / run_dir.TENSORBOARD).rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.setdefault((path.parent.name, value.tag), []).append(float(tf.make_ndarray(value.tensor)))
    return tags


def test_self_training_logs_dev_scores_and_its_selections(tiny_recipe, tmp_path):
    from keras_clx import experiment

    recipe = tiny_recipe(
        "train.self_training.enabled=true",
        "train.self_training.max_rounds=1",
        "train.self_training.k_per_class=2",
        "train.tensorboard=true",
        "train.accumulation_steps=2",
    )
    experiment.fit(recipe, tmp_path / "run", verbose=0)
    rows = _log_rows(tmp_path / "run")
    selected = json.loads((tmp_path / "run" / run_dir.METRICS).read_text())["self_training"]["rounds"][1]["selected"]
    assert selected > 0 and [r["self_training_selected"] for r in rows] == ["0.0", str(float(selected))]
    assert "dev_far_accuracy" in rows[0] and (tmp_path / "run" / run_dir.CURVES).is_file()
    assert _tags(tmp_path / "run")[("train", "epoch_self_training_selected")] == [0.0, selected]
    assert not (tmp_path / "run" / run_dir.CHECKPOINTS).exists()
