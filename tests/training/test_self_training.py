"""Self-training: the selection rule, the growing data, rounds, early stopping, resume.

The callback tests train a bag-of-words MLP (hashed words -> dense) so that a
whole run takes a second or two on every backend; one test composes the callback
with the classifier's adversarial train step.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_clx import run_dir
from keras_clx.data.demo import make_demo_corpus
from keras_clx.errors import ClxError
from keras_clx.training import rounds
from keras_clx.training.growing_data import TrainingData
from keras_clx.training.round_schedule import RoundSchedule, round_optimizer
from keras_clx.training.selection import (
    LabelAccuracy,
    SoftLabelCrossentropy,
    select_pseudo_labels,
)
from keras_clx.training.self_training import SelfTrainingCallback, SelfTrainingSettings
from tests.helpers import TINY_OVERRIDES, set_args

BUCKETS = 128


# === Selection rule ===


def test_selection_takes_the_most_confident_per_predicted_class():
    p = np.array(
        [
            [0.90, 0.10, 0.00],  # 0: class 0, 0.90
            [0.60, 0.40, 0.00],  # 1: class 0, 0.60
            [0.20, 0.80, 0.00],  # 2: class 1, 0.80
            [0.95, 0.05, 0.00],  # 3: class 0, 0.95
            [0.10, 0.20, 0.70],  # 4: class 2, 0.70
            [0.30, 0.70, 0.00],  # 5: class 1, 0.70
        ]
    )
    s = select_pseudo_labels(p, k_per_class=2)
    assert s.indices.tolist() == [3, 0, 2, 5, 4]  # per class, most confident first
    assert s.labels.tolist() == [0, 0, 1, 1, 2]
    np.testing.assert_allclose(s.confidences, [0.95, 0.90, 0.80, 0.70, 0.70])
    assert s.shortfalls == [(0, 2, 1)]  # class 2 had one candidate and gave it
    assert s.counts(3).tolist() == [2, 2, 1]


def test_selection_breaks_ties_by_pool_position_and_lowest_class():
    p = np.array(
        [
            [0.5, 0.5],  # equal maxima: predicted class 0 (argmax)
            [0.7, 0.3],
            [0.7, 0.3],  # same confidence as row 1: the earlier row wins
            [0.7, 0.3],
            [0.2, 0.8],
        ]
    )
    s = select_pseudo_labels(p, k_per_class=2)
    assert s.indices.tolist() == [1, 2, 4]
    s = select_pseudo_labels(p[::-1], k_per_class=2)  # reversed pool: rows 0 and 1 are now the earlier ties
    assert s.indices.tolist() == [1, 2, 0]
    assert select_pseudo_labels(p, k_per_class=5).indices.tolist() == [1, 2, 3, 0, 4]


def test_selection_threshold_and_short_classes():
    p = np.array([[0.95, 0.05], [0.55, 0.45], [0.35, 0.65], [0.10, 0.90], [0.80, 0.20]])
    s = select_pseudo_labels(p, k_per_class=3, threshold=0.8)
    assert s.indices.tolist() == [0, 4, 3]  # 0.55 and 0.65 are below the threshold; 0.80 is kept
    assert s.shortfalls == [(0, 0, 2), (0, 1, 1)]
    assert len(select_pseudo_labels(p, k_per_class=3, threshold=0.99)) == 0


def test_selection_balances_classes_within_each_group():
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.99, 0.01], [0.3, 0.7], [0.97, 0.03]])
    s = select_pseudo_labels(p, k_per_class=1, groups=["es", "es", "th", "es", "th"])
    assert s.indices.tolist() == [0, 3, 2]  # es: best of class 0 and of class 1; th: class 0 only
    assert s.shortfalls == [("th", 1, 0)]
    with pytest.raises(ValueError):
        select_pseudo_labels(p, k_per_class=0)


# === Soft labels and the schedule ===


def test_soft_label_loss_and_accuracy_accept_ids_and_distributions():
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype="float32")
    ids = np.array([0, 1])
    loss = SoftLabelCrossentropy()
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(ids, logits)
    np.testing.assert_allclose(float(loss(ids, logits)), float(sparse), rtol=1e-6)
    np.testing.assert_allclose(float(loss(np.eye(3, dtype="float32")[ids], logits)), float(sparse), rtol=1e-6)
    soft = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype="float32")
    expected = -(soft * keras.ops.convert_to_numpy(keras.ops.log_softmax(logits))).sum(-1).mean()
    np.testing.assert_allclose(float(loss(soft, logits)), expected, rtol=1e-5)
    accuracy = LabelAccuracy()
    accuracy.update_state(soft, logits)
    accuracy.update_state(ids, logits)
    assert float(accuracy.result()) == pytest.approx(0.75)


def test_round_schedule_warms_up_and_decays_over_the_current_round():
    """The formula; `test_round_schedule_is_read_live_by_the_compiled_step` checks fit uses it."""
    optimizer, schedule = round_optimizer(1e-2, warmup_ratio=0.1, round_steps=100)
    assert any(v.name == "round_steps" for v in optimizer.variables)
    lr = lambda step: float(schedule(step))  # noqa: E731
    assert lr(0) == 0.0 and lr(5) == pytest.approx(5e-3) and lr(10) == pytest.approx(1e-2)
    assert lr(55) == pytest.approx(5e-3, rel=1e-4) and lr(100) == pytest.approx(0.0, abs=1e-9)
    schedule.set_round_steps(200)
    assert lr(20) == pytest.approx(1e-2) and lr(110) == pytest.approx(5e-3, rel=1e-4)
    assert RoundSchedule.from_config(schedule.get_config()).round_steps == 200


def test_round_schedule_is_read_live_by_the_compiled_step():
    """Traced with a 100-step round, then set to a 1-step round: only the round's first
    step has a learning rate, so 2 and 4 steps end with the same weights."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 4, 64)

    def train(steps, round_steps):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
        optimizer, schedule = round_optimizer(0.1, warmup_ratio=0.0, round_steps=100)
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        optimizer.build(model.trainable_variables)
        weights, state = model.get_weights(), [np.array(v) for v in optimizer.variables]
        model.fit(x[:16], y[:16], batch_size=16, verbose=0, shuffle=False)  # compiles the step
        model.set_weights(weights)
        for variable, value in zip(optimizer.variables, state):
            variable.assign(value)
        schedule.set_round_steps(round_steps)
        model.fit(x[: 16 * steps], y[: 16 * steps], batch_size=16, verbose=0, shuffle=False)
        return model.get_weights()

    for a, b in zip(train(2, 1), train(4, 1)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(train(2, 100), train(4, 100)))


# === A tiny model and corpus for the callback ===


def featurize(texts, y=None):
    """Hashed bag of words: a `(batch, BUCKETS)` count matrix."""
    ids = tf.strings.to_hash_bucket_fast(tf.strings.split(texts), BUCKETS)
    x = tf.cast(tf.math.bincount(ids, minlength=BUCKETS, maxlength=BUCKETS, axis=-1), "float32")
    x = tf.ensure_shape(x, (None, BUCKETS))
    return x if y is None else (x, y)


class ExampleCount(keras.metrics.Metric):
    """Examples trained on since the last reset (Keras resets metrics every epoch)."""

    def __init__(self, name="examples", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(keras.ops.sum(keras.ops.ones_like(y_pred[:, 0], dtype="float32")))

    def result(self):
        return self.count + 0.0  # a new tensor (torch would alias the variable)


@pytest.fixture(scope="module")
def corpus():
    # Sizes keep every batch full (JAX compiles once per batch shape): 64 source examples,
    # 2 languages x 40 unlabelled, Kt=2 x 4 classes x 2 languages = 16 pseudo-labels a round.
    return make_demo_corpus(
        train_size=64, dev_size=16, test_size=4, unlabeled_size=40, targets={"near": 0.7, "mid": 0.5}
    )


def tiny_model(num_classes=4, loss=None, metrics=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((BUCKETS,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(num_classes),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=metrics or [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), ExampleCount()],
    )
    return model


def dev_dataset(corpus):
    dev = [e for lang in corpus.targets for e in corpus.languages[lang].dev]
    y = corpus.labels.encode(dev)
    return tf.data.Dataset.from_tensor_slices(([e.text for e in dev], y)).batch(16).map(featurize)


CALLBACK_ARGS = ("label_names", "gold_labels", "monitor_description", "schedule", "directory", "verbose")


def make_callback(corpus, **kwargs):
    options = dict(
        k_per_class=2,
        epochs_per_round=1,
        max_rounds=3,
        patience=5,
        label_names=corpus.labels.names,
        prediction_batch_size=16,
        verbose=0,
        gold_labels={e.id: "sports" for e in corpus.unlabeled()},
    )
    options.update(kwargs)
    settings = SelfTrainingSettings(**{k: v for k, v in options.items() if k not in CALLBACK_ARGS})
    return SelfTrainingCallback(
        corpus.unlabeled(), settings, **{k: v for k, v in options.items() if k in CALLBACK_ARGS}
    )


def fit(model, callback, corpus, extra=(), batch_size=16, initial_epoch=0, source=None):
    source = corpus.train if source is None else source
    train = callback.training_data(
        [e.text for e in source], corpus.labels.encode(source), batch_size, preprocessor=featurize
    )
    return model.fit(
        train,
        validation_data=dev_dataset(corpus),
        epochs=callback.epochs,
        initial_epoch=initial_epoch,
        callbacks=[callback, *extra],
        verbose=0,
    )


class Probe(keras.callbacks.Callback):
    """Records the data size and pool size at every epoch start, and the weights at every epoch end."""

    def __init__(self, callback):
        super().__init__()
        self.st, self.begin, self.weights, self.iterations = callback, {}, {}, {}

    def on_epoch_begin(self, epoch, logs=None):
        self.begin[epoch] = (self.st.examples_per_epoch, len(self.st.pool))

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [np.array(w) for w in self.model.get_weights()]
        self.iterations[epoch] = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))


def test_training_data_serves_every_example_per_epoch_in_full_batches_in_a_new_order():
    data = TrainingData([f"t{i}" for i in range(10)], np.arange(10, dtype="int32"), batch_size=4, seed=0)
    epoch0 = [b for b in data.batches()]
    assert [len(x) for x, _ in epoch0] == [4, 4, 4]  # one batch shape: no compile per round on JAX
    served = np.concatenate([y for _, y in epoch0]).tolist()
    assert sorted(set(served)) == list(range(10))
    assert served[10:] == served[:2]  # topped up with the epoch's first examples
    data.epoch = 1
    assert np.concatenate([y for _, y in data.batches()]).tolist() != np.concatenate([y for _, y in epoch0]).tolist()


def full_batches(n, batch_size=16):
    """Examples an epoch trains on: every batch is full (the last one topped up)."""
    return -(-n // batch_size) * batch_size


def test_epochs_grow_by_the_selection_and_the_pool_shrinks(corpus):
    model = tiny_model()
    callback = make_callback(corpus, epochs_per_round=2, initial_epochs=1, max_rounds=2)
    probe = Probe(callback)
    source = corpus.train[:60]  # not a multiple of the batch size: the last batch is topped up
    history = fit(model, callback, corpus, extra=[probe], source=source)
    rows = callback.history.rows
    n_source, pool = len(source), len(corpus.unlabeled())
    assert [r.round for r in rows] == [0, 1, 2] and len(history.epoch) == 5
    assert all(r.selected > 0 for r in rows[1:])
    for epoch, examples in enumerate(history.history["examples"]):
        round_ = callback.plan.round_of(epoch)[0]
        expected = n_source + sum(r.selected for r in rows[1 : round_ + 1])
        assert expected == rows[round_].train_examples == probe.begin[epoch][0]
        assert examples == full_batches(expected)
    assert rows[0].pool == pool
    for before, after in zip(rows, rows[1:]):
        assert after.pool == before.pool - after.selected
        assert after.selected == sum(after.per_class) <= 2 * len(corpus.labels) * len(corpus.targets)
    pseudo_ids = [p["id"] for p in callback.pseudo_labels]
    assert len(set(pseudo_ids)) == len(pseudo_ids) == pool - len(callback.pool)
    assert not set(pseudo_ids) & {e.id for e in callback.pool}
    # Each round restarts the optimizer: its step counter counts this round's steps only.
    steps = [examples // 16 for examples in history.history["examples"]]
    assert [probe.iterations[e] for e in range(5)] == [
        steps[0],
        steps[1],
        steps[1] + steps[2],
        steps[3],
        steps[3] + steps[4],
    ]
    # Gold labels (all "sports" here) only feed the reported pseudo-label accuracy.
    sports = corpus.labels.index("sports")
    expected = np.mean([p["label"] == sports for p in callback.pseudo_labels if p["round"] == 1])
    assert rows[1].pseudo_accuracy == pytest.approx(expected)


class ScriptedScore(keras.callbacks.Callback):
    """Puts a scripted `score` per round into the epoch logs (placed before the self-training callback)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]


def test_early_stopping_restores_exactly_the_best_rounds_weights(corpus, tmp_path):
    model = tiny_model()
    callback = make_callback(corpus, monitor="score", patience=2, max_rounds=4, directory=tmp_path)
    probe = Probe(callback)
    scores = [0.2, 0.6, 0.5, 0.55, 0.9]
    train = callback.training_data(
        [e.text for e in corpus.train], corpus.labels.encode(corpus.train), 16, preprocessor=featurize
    )
    history = model.fit(train, epochs=callback.epochs, verbose=0, callbacks=[ScriptedScore(scores), callback, probe])
    assert len(history.epoch) == 4  # rounds 0-3: rounds 2 and 3 did not beat round 1
    assert callback.best_round == 1 and "no improvement" in callback.stop_reason
    assert callback.history.rows[-1].round == 3 and [r.monitor for r in callback.history.rows] == scores[:4]
    for got, best, _last in zip(model.get_weights(), probe.weights[1], probe.weights[3]):
        np.testing.assert_array_equal(got, best)
    assert any(not np.array_equal(b, last) for b, last in zip(probe.weights[1], probe.weights[3]))
    # The table, the plot and the state are in the directory; a stopped run cannot be resumed.
    assert {"rounds.md", "rounds.csv", "rounds.json", "rounds.png", "state.json"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert "| 1 *" in (tmp_path / "rounds.md").read_text()
    with pytest.raises(ClxError, match="already stopped"):
        make_callback(corpus, monitor="score", patience=2, max_rounds=4, directory=tmp_path).restore()


class Interrupted(Exception):
    pass


class Interrupt(keras.callbacks.Callback):
    """Raises `Interrupted` at `batch` of `epoch` (a crash in the middle of a round)."""

    def __init__(self, epoch, batch=1):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise Interrupted(f"simulated interruption in epoch {self.epoch}")


def _summary(callback, model):
    rows = [(r.round, r.train_examples, r.selected, tuple(r.per_class), r.pool) for r in callback.history.rows]
    pseudo = [(p["id"], p["label"], p["round"]) for p in callback.pseudo_labels]
    return rows, pseudo, [r.monitor for r in callback.history.rows], model.get_weights()


def test_resume_after_an_interruption_in_round_2_repeats_the_uninterrupted_run(corpus, tmp_path):
    options = dict(epochs_per_round=2, initial_epochs=1, max_rounds=2)
    model = tiny_model()
    callback = make_callback(corpus, directory=tmp_path / "a", **options)
    fit(model, callback, corpus)
    expected = _summary(callback, model)

    model = tiny_model()
    callback = make_callback(corpus, directory=tmp_path / "b", **options)
    with pytest.raises(Interrupted):
        fit(model, callback, corpus, extra=[Interrupt(epoch=4)])  # round 2 is epochs 3-4
    state = json.loads((tmp_path / "b" / "state.json").read_text())
    assert state["completed_round"] == 1 and len(state["history"]["rounds"]) == 3  # round 2's selection is saved

    model = tiny_model()
    callback = make_callback(corpus, directory=tmp_path / "b", **options)
    assert callback.restore() and callback.initial_epoch == 3
    history = fit(model, callback, corpus, initial_epoch=callback.initial_epoch)
    assert history.epoch[0] == 3
    got = _summary(callback, model)
    assert got[0] == expected[0] and got[1] == expected[1]
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-6)
    for a, b in zip(got[3], expected[3]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class RoundStart(keras.callbacks.Callback):
    """Records the weights every epoch starts from (placed after the self-training callback)."""

    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.weights[epoch] = [np.array(w) for w in self.model.get_weights()]


def test_reinitialize_starts_every_round_from_the_initial_weights(corpus, tmp_path):
    model = tiny_model()
    initial = model.get_weights()
    callback = make_callback(
        corpus, reinitialize=True, max_rounds=2, epochs_per_round=2, initial_epochs=1, directory=tmp_path
    )
    starts = RoundStart()
    fit(model, callback, corpus, extra=[starts])
    for epoch in (0, 1, 3):  # the first epoch of rounds 0, 1, 2
        for got, want in zip(starts.weights[epoch], initial):
            np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(starts.weights[2], initial))  # epoch 2 continues
    saved = rounds.StateFiles(tmp_path).load_variables("initial", model.variables)
    assert len(saved) == len(model.variables)  # a resumed run re-initialises to these


def test_restore_refuses_other_settings(corpus, tmp_path):
    model = tiny_model()
    callback = make_callback(corpus, directory=tmp_path, max_rounds=1)
    with pytest.raises(Interrupted):
        fit(model, callback, corpus, extra=[Interrupt(epoch=1, batch=0)])
    with pytest.raises(ClxError, match="k_per_class 2 -> 5"):
        make_callback(corpus, directory=tmp_path, max_rounds=1, k_per_class=5).restore()
    assert not make_callback(corpus, directory=tmp_path / "empty").restore()


def test_soft_labels_train_on_predicted_distributions(corpus):
    model = tiny_model(loss=SoftLabelCrossentropy(), metrics=[LabelAccuracy()])
    callback = make_callback(corpus, soft_labels=True, max_rounds=1, threshold=0.3)
    history = fit(model, callback, corpus)
    assert len(history.epoch) == 2 and callback.pseudo_labels
    for item in callback.pseudo_labels:
        target = np.array(item["target"])
        assert target.sum() == pytest.approx(1.0) and target.argmax() == item["label"]
        assert target.max() == pytest.approx(item["confidence"]) and item["confidence"] >= 0.3
    assert callback._data.targets.shape == (len(corpus.train) + len(callback.pseudo_labels), len(corpus.labels))


class Shifted(keras.Sequential):
    """A model with its own `train_step` (it shifts the inputs): the callback only changes the data."""

    calls = 0

    def train_step(self, *args):
        *state, (x, y) = args
        Shifted.calls += 1
        return super().train_step(*state, (x + 0.5, y))


def test_composes_with_a_custom_train_step(corpus):
    keras.utils.set_random_seed(0)
    model = Shifted([keras.Input((BUCKETS,)), keras.layers.Dense(len(corpus.labels))])
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"), ExampleCount()],
    )
    callback = make_callback(corpus, max_rounds=1)
    history = fit(model, callback, corpus)
    assert Shifted.calls > 0
    n = [len(corpus.train), len(corpus.train) + callback.history.rows[1].selected]
    assert history.history["examples"] == [full_batches(k) for k in n]


@pytest.mark.slow  # compiles BERT's adversarial step: about a minute on a loaded 2-core machine
def test_composes_with_adversarial_training(corpus):
    steps = pytest.importorskip("keras_clx.training.steps")
    if not hasattr(steps, "TransferConfig"):
        pytest.skip("the transfer train step is not available")
    import keras_hub

    from keras_clx.models.backbones import build_backbone
    from keras_clx.models.sequence_classifier import SequenceClassifier

    keras.utils.set_random_seed(0)
    texts = [e.text for e in corpus.train] + [e.text for e in corpus.unlabeled()]
    _, preprocessor = build_backbone("bert_tiny", texts, sequence_length=16, vocabulary_size=300)
    backbone = keras_hub.models.BertBackbone(  # one layer: the adversarial step compiles faster
        vocabulary_size=preprocessor.tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
    )
    model = SequenceClassifier(backbone, num_classes=len(corpus.labels), preprocessor=preprocessor)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"), ExampleCount()],
        transfer=steps.TransferConfig(perturbation="adversarial", epsilon=1.0),
    )
    callback = make_callback(corpus, max_rounds=1, monitor="accuracy")  # no validation: one compile less
    train = callback.training_data(
        [e.text for e in corpus.train], corpus.labels.encode(corpus.train), 16, preprocessor=preprocessor
    )
    history = model.fit(train, epochs=callback.epochs, callbacks=[callback], verbose=0)
    assert "adv_loss" in history.history and np.all(np.isfinite(history.history["adv_loss"]))
    n = [len(corpus.train), len(corpus.train) + callback.history.rows[1].selected]
    assert history.history["examples"] == [full_batches(k) for k in n]


# === The run directory (experiment glue) ===


def test_run_directory_checks(tmp_path):
    from keras_clx.recipes import bundled_recipes_dir, load_recipe

    def tiny_recipe(*overrides):
        return load_recipe(str(bundled_recipes_dir() / "demo.py"), overrides)

    recipe = tiny_recipe("train.self_training.enabled=true")
    run_dir.check_run_dir(tmp_path, recipe)  # a fresh directory is fine
    state = run_dir.RunDir(tmp_path).self_training
    state.mkdir()
    (state / run_dir.STATE_FILE).write_text("{}")
    with pytest.raises(ClxError, match="pass --resume"):
        run_dir.check_run_dir(tmp_path, recipe)
    with pytest.raises(ClxError, match="recipe.json is missing"):
        run_dir.check_run_dir(tmp_path, recipe, resume=True)
    recipe.to_json(tmp_path / "recipe.json")
    run_dir.check_run_dir(tmp_path, recipe, resume=True)
    other = tiny_recipe("train.self_training.enabled=true", "train.self_training.k_per_class=7")
    with pytest.raises(ClxError, match="k_per_class: 30 -> 7"):
        run_dir.check_run_dir(tmp_path, other, resume=True)
    with pytest.raises(ClxError, match="self_training.enabled: True -> False"):  # another recipe
        run_dir.check_run_dir(tmp_path, tiny_recipe(), resume=True)
    run_dir.check_run_dir(tmp_path, recipe, overwrite=True)


def test_setup_refuses_what_self_training_cannot_do(tmp_path):
    from keras_clx.errors import RecipeError
    from keras_clx.recipes import bundled_recipes_dir, load_recipe

    def recipe(*overrides):
        return load_recipe(str(bundled_recipes_dir() / "demo.py"), ["train.self_training.enabled=true", *overrides])

    from keras_clx import experiment
    from keras_clx.self_training_setup import check_recipe

    with pytest.raises(RecipeError, match="sequence classification"):
        experiment.fit(recipe("data.task=token"), tmp_path / "run")  # refused before anything is written
    assert not (tmp_path / "run").exists()
    with pytest.raises(RecipeError, match="soft_labels needs Keras's own train step"):
        check_recipe(recipe("train.self_training.soft_labels=true", "train.perturbation=adversarial"))
    with pytest.raises(RecipeError, match="target_dev or source_dev"):
        check_recipe(recipe("train.self_training.monitor=test"))
    check_recipe(recipe("train.self_training.soft_labels=true"))


@pytest.mark.slow  # two bert_tiny runs of the demo recipe
def test_fit_resumes_an_interrupted_self_training_run_from_the_cli(tmp_path):
    from click.testing import CliRunner

    from keras_clx import experiment
    from keras_clx.cli import main
    from keras_clx.recipes import bundled_recipes_dir, load_recipe

    overrides = [
        "data.options.train_size=64",
        "data.options.dev_size=16",
        "data.options.test_size=16",
        "data.options.unlabeled_size=32",
        "data.targets=near,mid",
        *TINY_OVERRIDES,
        "eval.batch_size=16",
        "train.self_training.enabled=true",
        "train.self_training.k_per_class=2",
        "train.self_training.max_rounds=2",
        "train.self_training.patience=5",
    ]
    recipe_path = str(bundled_recipes_dir() / "demo.py")
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        experiment.fit(load_recipe(recipe_path, overrides), out, verbose=0, callbacks=[Interrupt(epoch=2, batch=0)])
    assert json.loads((out / "self_training" / "state.json").read_text())["completed_round"] == 1
    with pytest.raises(ClxError, match="--resume"):
        experiment.fit(load_recipe(recipe_path, overrides), out, verbose=0)

    args = ["--quiet", "fit", recipe_path, "--out", str(out), "--resume"]
    result = CliRunner().invoke(main, args + set_args(overrides))
    assert result.exit_code == 0, result.output
    assert "## Self-training rounds" in result.output and "target avg" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["round"] for r in metrics["self_training"]["rounds"]] == [0, 1, 2]
    assert "target-language dev" in metrics["self_training"]["monitor_description"]
    assert (out / "self_training" / "rounds.png").stat().st_size > 0
    assert "Self-training rounds" in (out / "report.md").read_text()
    assert len((out / "training_log.csv").read_text().strip().splitlines()) == 1 + 3  # header + 3 epochs
    result = CliRunner().invoke(main, args + set_args(overrides))
    assert result.exit_code == 2 and "nothing to resume" in result.output


def test_sentencepiece_backbone_trains_through_rounds(tiny_recipe, tmp_path):
    """Re-seeding at each round must not destroy the SentencePiece tokenizer's TF resource."""
    from keras_clx import experiment

    recipe = tiny_recipe(
        "model.backbone=xlmr_tiny",
        "train.self_training.enabled=true",
        "train.self_training.max_rounds=1",
        "train.self_training.k_per_class=2",
    )
    run = experiment.fit(recipe, out_dir=tmp_path / "run", verbose=0)
    assert [row.round for row in run.rounds.rows] == [0, 1]
    assert run.report.target_average()["accuracy"] >= 0


def test_a_class_never_predicted_is_named_in_the_round_table():
    from keras_clx.training.round_history import RoundHistory

    history = RoundHistory("target_dev")
    history.row(0).per_class = [0, 0, 0]
    row = history.row(1)
    row.per_class, row.selected = [30, 0, 30], 60
    table = history.format_table(["negative", "neutral", "positive"])
    assert "30/0/30 (none: neutral)" in table and "(none" not in table.splitlines()[2]
    assert row.never_predicted(["negative", "neutral", "positive"]) == ["neutral"]
    assert history.row(0).never_predicted() == [] and row.never_predicted() == ["1"]
