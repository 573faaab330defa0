"""Self-training (paper 000, §2 "Self-Learning"): class-balanced pseudo-labels, round by round.

Round 0 trains on the labelled source data. At the end of every round the model
predicts the unlabelled target pool; the `k_per_class` (Kt) most confident
examples of each predicted class (per language) leave the pool and join the
training data with their pseudo-labels, and the next round trains on the source
data plus every pseudo-labelled example so far. Rounds stop when the monitored
validation metric has not improved for `patience` rounds, at `max_rounds`, or
when nothing is left to select; the best round's weights are restored.

    callback = SelfTrainingCallback(pool, k_per_class=30, epochs_per_round=6)
    train = callback.training_data(texts, label_ids, batch_size=32, preprocessor=model.preprocessor)
    model.fit(train, validation_data=dev, epochs=callback.epochs, callbacks=[callback])

How the training data grows inside one `model.fit` (Keras 3.15, every backend):
Keras fixes an epoch's length when it first learns it (a dataset's cardinality,
or the step count of the first pass over a dataset of unknown cardinality), so a
dataset whose contents change cannot simply grow. `training_data` is therefore a
`tf.data.Dataset.from_generator` of unknown cardinality over the callback's
Python-side list (re-shuffled every epoch from `(seed, epoch)`), and the callback
ends each epoch itself after exactly `ceil(n / batch_size)` batches by setting
`model.stop_training` in `on_train_batch_end` and clearing it in `on_epoch_end`
(unless the run is really over). The iterator therefore never runs dry, Keras
never fixes the epoch length, and each epoch sees the current contents exactly
once. Requirements that follow: `steps_per_execution=1`, and callbacks that stop
training from `on_epoch_end` must come after this one in the list.
"""

import dataclasses
import math
import pathlib
import sys
import time

import keras
import numpy as np

from keras_clx.api_export import clx_export
from keras_clx.data.pipeline import predict_texts
from keras_clx.data.records import Example
from keras_clx.errors import ClxError
from keras_clx.evaluation.metrics import softmax
from keras_clx.training import rounds


def _log(message, verbose):
    if verbose:
        print(f"[keras-clx] {message}", file=sys.stderr, flush=True)


# === Selection rule ===


@dataclasses.dataclass
class Selection:
    """What `select_pseudo_labels` chose.

    `indices` are rows of the probability matrix, grouped by group (in order of
    first appearance), then by class, then by decreasing confidence; `labels` and
    `confidences` are their predicted class and its probability. `shortfalls`
    lists `(group, class, available)` for every class that had fewer than
    `k_per_class` candidates (it gives all it has).
    """

    indices: np.ndarray
    labels: np.ndarray
    confidences: np.ndarray
    shortfalls: list

    def __len__(self):
        return len(self.indices)

    def counts(self, num_classes):
        """Selected examples per class."""
        return np.bincount(self.labels, minlength=num_classes)


def select_pseudo_labels(probabilities, k_per_class, threshold=None, groups=None):
    """The top-`k_per_class` most confident rows per predicted class.

    Args:
        probabilities: `(n, classes)` class probabilities of the unlabelled pool.
        k_per_class: int, Kt. At most this many rows per predicted class (and group).
        threshold: optional float. Only rows whose confidence (highest probability)
            is at least `threshold` are candidates.
        groups: optional length-`n` sequence (e.g. the language of each row).
            Classes are balanced within each group separately.

    Ties are broken deterministically: a row's predicted class is the lowest class
    id among equal maxima (`argmax`), and among equally confident candidates of a
    class the row earlier in the pool wins (stable sort). Plain NumPy, so the rule
    is the same whichever backend produced the probabilities.

    Returns:
        A `Selection`.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (examples, classes), got shape {probabilities.shape}")
    if isinstance(k_per_class, bool) or not isinstance(k_per_class, (int, np.integer)) or k_per_class < 1:
        raise ValueError(f"k_per_class must be a positive integer, got {k_per_class!r}")
    n, num_classes = probabilities.shape
    predicted = probabilities.argmax(axis=-1) if n else np.zeros(0, dtype=int)
    confidence = probabilities[np.arange(n), predicted]
    eligible = np.ones(n, bool) if threshold is None else confidence >= threshold
    groups = np.zeros(n, dtype=int) if groups is None else np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} rows")
    _, first = np.unique(groups, return_index=True)
    chosen, shortfalls = [], []
    for group in groups[np.sort(first)]:
        in_group = (groups == group) & eligible
        for cls in range(num_classes):
            candidates = np.flatnonzero(in_group & (predicted == cls))
            order = np.argsort(-confidence[candidates], kind="stable")
            chosen.append(candidates[order[:k_per_class]])
            if len(candidates) < k_per_class:
                shortfalls.append((group.item() if hasattr(group, "item") else group, cls, len(candidates)))
    indices = np.concatenate(chosen).astype(int) if chosen else np.zeros(0, dtype=int)
    return Selection(indices, predicted[indices].astype(int), confidence[indices], shortfalls)


# === Soft labels ===


def _is_distribution(y_true, y_pred):
    return len(y_true.shape) == len(y_pred.shape)


@clx_export("keras_clx.training.SoftLabelCrossentropy")
class SoftLabelCrossentropy(keras.losses.Loss):
    """Cross-entropy against label ids `(batch,)` or distributions `(batch, classes)`.

    With `soft_labels` the training targets are distributions (one-hot for the
    source, the predicted distribution for a pseudo-label), while validation
    data keeps label ids: the target's rank chooses categorical or sparse
    cross-entropy, so one compiled loss serves both.
    """

    def __init__(self, from_logits=True, name="soft_label_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        if _is_distribution(y_true, y_pred):
            return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits})
        return config


def _label_accuracy(y_true, y_pred):
    if _is_distribution(y_true, y_pred):
        y_true = keras.ops.argmax(y_true, axis=-1)
    return keras.metrics.sparse_categorical_accuracy(y_true, y_pred)


@clx_export("keras_clx.training.LabelAccuracy")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy against label ids or distributions (their argmax)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=_label_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


# === Learning-rate schedule ===


@clx_export("keras_clx.training.RoundSchedule")
class RoundSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up then cosine decay to 0 over one round; restarted every round.

    Each round is a fresh fine-tuning run: `SelfTrainingCallback` resets the
    optimizer (its step counter and moments) when a round starts and sets the
    round's length here, which grows with the training data. The length lives in
    an optimizer variable (`attach`) so that every backend reads the current
    value inside its compiled train step (JAX passes optimizer variables as state).

    Args:
        learning_rate: float. Peak learning rate.
        warmup_ratio: float. Share of each round spent warming up from 0.
        round_steps: int. Length of a round before `set_round_steps` is called.
    """

    def __init__(self, learning_rate, warmup_ratio=0.1, round_steps=1):
        self.learning_rate = float(learning_rate)
        self.warmup_ratio = float(warmup_ratio)
        self.round_steps = int(round_steps)
        self._steps = None

    def attach(self, optimizer):
        """Creates the round-length variable in `optimizer` (call once, before `fit`)."""
        self._steps = optimizer.add_variable(
            (), initializer=keras.initializers.Constant(self.round_steps), dtype="float32", name="round_steps"
        )
        return optimizer

    def set_round_steps(self, steps):
        self.round_steps = int(steps)
        if self._steps is not None:
            self._steps.assign(float(steps))

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        total = ops.maximum(self._steps if self._steps is not None else float(self.round_steps), 1.0)
        warmup = ops.floor(self.warmup_ratio * total)
        warm = self.learning_rate * step / ops.maximum(warmup, 1.0)
        progress = ops.clip((step - warmup) / ops.maximum(total - warmup, 1.0), 0.0, 1.0)
        decayed = self.learning_rate * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < warmup, warm, decayed)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_ratio": self.warmup_ratio,
                "round_steps": self.round_steps}


def round_optimizer(learning_rate, warmup_ratio=0.1, weight_decay=0.01, round_steps=1):
    """AdamW on a `RoundSchedule`; returns `(optimizer, schedule)`."""
    schedule = RoundSchedule(learning_rate, warmup_ratio, round_steps)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    return schedule.attach(optimizer), schedule


# === Training data that grows ===


def _inputs(item):
    """A pseudo-label's model input: its text, or `(text, text_pair)` for a sentence pair."""
    return (item["text"], item["text_pair"]) if "text_pair" in item else item["text"]


class _TrainingData:
    """Source examples plus pseudo-labelled ones, served as whole batches per epoch."""

    def __init__(self, texts, targets, batch_size, seed):
        self.texts = list(texts)
        self.targets = targets
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        return len(self.texts)

    def steps(self):
        return -(-len(self.texts) // self.batch_size)

    def add(self, texts, targets):
        self.texts = self.texts + list(texts)
        self.targets = np.concatenate([self.targets, targets.astype(self.targets.dtype)])

    def batches(self):
        """One epoch: a permutation seeded by `(seed, epoch)`, cut into full batches.

        The last batch is topped up with the epoch's first examples, so every batch
        has one shape as the data grows (JAX compiles a train step per batch shape,
        which would otherwise cost one compile per round).
        """
        texts, targets = self.texts, self.targets  # contents as of this epoch
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(texts))
        order = np.resize(order, self.steps() * self.batch_size)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            if self.pairs:  # sentence pairs: two string columns
                yield tuple(np.array([texts[i][k] for i in rows], dtype=object) for k in (0, 1)), targets[rows]
            else:
                yield np.array([texts[i] for i in rows], dtype=object), targets[rows]

    @property
    def pairs(self):
        return bool(self.texts) and isinstance(self.texts[0], tuple)

    def dataset(self, preprocessor=None):
        import tensorflow as tf

        target_shape = (None,) + self.targets.shape[1:]
        target_dtype = tf.float32 if self.targets.ndim == 2 else tf.int32
        ds = tf.data.Dataset.from_generator(
            self.batches,
            output_signature=(
                (tf.TensorSpec((None,), tf.string),) * 2 if self.pairs else tf.TensorSpec((None,), tf.string),
                tf.TensorSpec(target_shape, target_dtype),
            ),
        )
        if preprocessor is not None:
            ds = ds.map(lambda x, y: preprocessor(x, y), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)


def _reseed(seed):
    """`keras.utils.set_random_seed` without `tf.random.set_seed`.

    Setting TensorFlow's global seed clears its kernel caches, and with them the
    SentencePiece tokenizer resource that the live tf.data pipelines use (XLM-R
    runs then fail with "SentencepieceResource does not exist"). keras-clx's
    pipelines shuffle with explicit seeds and Keras layers draw from their own
    seed generators, so TensorFlow's global seed is not needed here.
    """
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def _as_examples(unlabeled):
    examples = []
    for i, item in enumerate(unlabeled):
        if isinstance(item, Example):
            examples.append(item.unlabeled())
        elif isinstance(item, str):
            examples.append(Example(item, "pool", str(i)))
        else:
            raise TypeError(f"unlabeled items must be str or Example, got {type(item).__name__}")
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("unlabeled examples must have distinct ids")
    return examples


def _values(variables):
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


def _assign(variables, values):
    if len(variables) != len(values):
        raise ValueError(f"expected {len(variables)} arrays, got {len(values)}")
    for variable, value in zip(variables, values):
        variable.assign(value)


# === Callback ===


class SelfTrainingCallback(keras.callbacks.Callback):
    """Self-training rounds inside a plain `model.fit` (every backend).

    Args:
        unlabeled: the pool: `Example`s (their labels are ignored; `language`
            groups the class balance) or strings.
        k_per_class: int. Kt, pseudo-labels per predicted class (and language) per round.
        epochs_per_round: int. Epochs of each self-training round.
        max_rounds: int. Self-training rounds after round 0 (at most).
        patience: int. Rounds without improvement of `monitor` before stopping.
        monitor: str. Epoch-log key judged at the end of each round (`"val_accuracy"`).
        mode: `"max"` or `"min"`.
        initial_epochs: int. Epochs of round 0 (source only); default `epochs_per_round`.
        threshold: optional float. Minimum confidence of a pseudo-label.
        reinitialize: bool. Start every round from the initial weights (the reference
            code) instead of continuing from the current ones.
        soft_labels: bool. Train on the predicted distributions instead of their
            argmax; compile with `SoftLabelCrossentropy` and `LabelAccuracy`.
        per_group: bool. Balance classes within each language of the pool.
        label_names: optional class names for the logs and the table.
        gold_labels: optional `{id: label}` (name or id) of pool examples, used only
            to report the accuracy of the pseudo-labels.
        monitor_description: str. Which data `monitor` measures (for the table).
        prediction_batch_size: int. Batch size for predicting the pool.
        from_logits: bool. Whether the model outputs logits.
        schedule: optional `RoundSchedule` of the optimizer (its round length is set
            at each round start).
        directory: optional path. Per-round state for `restore` (pseudo-labelled set,
            remaining pool, last and best weights, round counter), the table and the plot.
        seed: int. Shuffling of the training data.
        verbose: int. 0 silent; 1 round lines and progress bars while predicting.

    After `fit`: `history` (a `RoundHistory`: `to_markdown()`, `write(dir)`),
    `pseudo_labels`, `pool`, `best_round`, `stop_reason`.
    """

    def __init__(
        self,
        unlabeled,
        k_per_class,
        epochs_per_round=1,
        max_rounds=5,
        patience=2,
        monitor="val_accuracy",
        mode="max",
        initial_epochs=None,
        threshold=None,
        reinitialize=False,
        soft_labels=False,
        per_group=True,
        label_names=None,
        gold_labels=None,
        monitor_description="",
        prediction_batch_size=64,
        from_logits=True,
        schedule=None,
        directory=None,
        seed=0,
        verbose=1,
    ):
        super().__init__()
        for name, value, low in (("k_per_class", k_per_class, 1), ("epochs_per_round", epochs_per_round, 1),
                                 ("max_rounds", max_rounds, 0), ("patience", patience, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self.k_per_class = k_per_class
        self.epochs_per_round = epochs_per_round
        self.initial_epochs = epochs_per_round if initial_epochs is None else int(initial_epochs)
        self.max_rounds = max_rounds
        self.patience = patience
        self.monitor = monitor
        self.mode = mode
        self.threshold = threshold
        self.reinitialize = reinitialize
        self.soft_labels = soft_labels
        self.per_group = per_group
        self.label_names = list(label_names) if label_names is not None else None
        self.monitor_description = monitor_description
        self.prediction_batch_size = prediction_batch_size
        self.from_logits = from_logits
        self.schedule = schedule
        self.directory = pathlib.Path(directory) if directory is not None else None
        self.seed = seed
        self.verbose = verbose

        self.pool = _as_examples(unlabeled)
        self._initial_pool_size = len(self.pool)
        self._gold = dict(gold_labels or {})
        self.pseudo_labels = []  # dicts: id, text, language, round, label, confidence[, target]
        self.history = rounds.RoundHistory(monitor, mode, monitor_description)
        self.best_round = None
        self.best_value = None
        self.stop_reason = None
        self._best_values = None
        self._initial_values = None
        self._optimizer_values = None
        self._wait = 0
        self._completed = -1  # last completed round
        self._restored = False
        self._last_file = self._best_file = None
        self._num_classes = None
        self._n_source = 0
        self._data = None
        self._preprocessor = None
        self._epoch_batches = 0
        self._quota = 0
        self._ended_epoch = False
        self._external_stop = False
        self._round_started = None

    # --- rounds and epochs ---

    @property
    def epochs(self):
        """Total epochs to pass to `fit`: round 0 plus `max_rounds` rounds."""
        return self.initial_epochs + self.max_rounds * self.epochs_per_round

    @property
    def initial_epoch(self):
        """Epoch to pass to `fit(initial_epoch=...)`: 0, or where a restored run continues."""
        return self._round_start(self._completed + 1) if self._completed >= 0 else 0

    def _round_start(self, round_):
        return 0 if round_ == 0 else self.initial_epochs + (round_ - 1) * self.epochs_per_round

    def _round_of(self, epoch):
        """`(round, is_first_epoch, is_last_epoch)` of `epoch`."""
        if epoch < self.initial_epochs:
            return 0, epoch == 0, epoch == self.initial_epochs - 1
        offset = epoch - self.initial_epochs
        return 1 + offset // self.epochs_per_round, offset % self.epochs_per_round == 0, (
            offset % self.epochs_per_round == self.epochs_per_round - 1)

    # --- data ---

    def training_data(self, texts, labels, batch_size, preprocessor=None):
        """The `tf.data.Dataset` to pass to `fit`: `texts` with label ids `labels`,
        plus every pseudo-labelled example selected so far (also after `restore`).

        `preprocessor` (e.g. the model's) is mapped over `(texts, targets)`
        batches; targets are label ids, or distributions with `soft_labels`.
        """
        labels = np.asarray(labels, dtype="int32")
        if len(labels) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if self.label_names is not None:
            self._num_classes = len(self.label_names)
        else:
            self._num_classes = int(labels.max()) + 1 if len(labels) else 0
        targets = np.eye(self._num_classes, dtype="float32")[labels] if self.soft_labels else labels
        self._n_source = len(texts)
        self._data = _TrainingData(texts, targets, batch_size, self.seed)
        self._preprocessor = preprocessor
        if self.pseudo_labels:
            self._data.add([_inputs(p) for p in self.pseudo_labels], self._pseudo_targets(self.pseudo_labels))
        return self._data.dataset(preprocessor)

    def _pseudo_targets(self, items):
        if self.soft_labels:
            return np.asarray([p["target"] for p in items], dtype="float32").reshape(-1, self._num_classes)
        return np.asarray([p["label"] for p in items], dtype="int32")

    @property
    def examples_per_epoch(self):
        """Training examples an epoch sees now: source plus pseudo-labelled."""
        return len(self._data)

    # --- Keras hooks ---

    def set_params(self, params):
        super().set_params(params)
        if params is not None and params.get("steps") is None and self._data is not None:
            params["steps"] = self._data.steps()  # the progress bar's target (round 0's length)

    def on_train_begin(self, logs=None):
        if self._data is None:
            raise ValueError("fit the model on `callback.training_data(...)`: the callback grows that dataset")
        if getattr(self.model, "steps_per_execution", 1) != 1:
            raise ValueError("self-training needs steps_per_execution=1 (it ends every epoch itself)")
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self._optimizer_values = _values(optimizer.variables) if optimizer is not None else None
        state = rounds.StateFiles(self.directory) if self.directory is not None else None
        if self.reinitialize:
            if state is not None and state.has("initial"):
                self._initial_values = state.load_variables("initial", self.model.variables)
            else:
                self._initial_values = _values(self.model.variables)
                if state is not None:
                    state.save_variables("initial", self.model.variables)
        if self._restored:
            _assign(self.model.variables, state.load_variables(self._last_file, self.model.variables))
            if self._best_file is not None:
                self._best_values = state.load_variables(self._best_file, self.model.variables)
            _log(f"self-training: resumed after round {self._completed} ({len(self.pseudo_labels)} "
                 f"pseudo-labels, pool {len(self.pool)})", self.verbose)
        elif not self.history.rows:
            self.history.rows.append(rounds.RoundRecord(round=0, pool=len(self.pool)))

    def on_epoch_begin(self, epoch, logs=None):
        self._data.epoch = epoch
        self._epoch_batches = 0
        self._quota = self._data.steps()
        self._ended_epoch = False
        self._external_stop = False
        round_, first, _ = self._round_of(epoch)
        if first:
            self._start_round(round_)

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_batches += 1
        if self._epoch_batches >= self._quota:
            if self.model.stop_training:
                self._external_stop = True
            self.model.stop_training = True
            self._ended_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        if not self._ended_epoch and not self.model.stop_training:
            raise RuntimeError(
                f"epoch {epoch} ended after {self._epoch_batches} of {self._quota} batches: fit the model on "
                "`callback.training_data(...)` without steps_per_epoch"
            )
        external = self._external_stop or (self.model.stop_training and not self._ended_epoch)
        round_, _, last = self._round_of(epoch)
        if last:
            self._end_round(round_, logs or {})
        self.model.stop_training = external or self.stop_reason is not None

    def on_train_end(self, logs=None):
        if self._best_values is not None and self.best_round != self._completed:
            _assign(self.model.variables, self._best_values)
            _log(f"self-training: restored the weights of round {self.best_round} "
                 f"({self.monitor} {self.best_value:.4f})", self.verbose)
        if self.directory is not None:
            self.history.write(self.directory, label_names=self.label_names)

    # --- rounds ---

    def _start_round(self, round_):
        """A fresh fine-tuning run: reset the optimizer, size the schedule, maybe re-initialise.

        The global RNGs are re-seeded from `(seed, round)`: layers without their own
        seed (torch's dropout) then draw the same numbers in a resumed run.
        """
        self._round_started = time.time()
        _reseed(int(np.random.SeedSequence([self.seed, round_]).generate_state(1)[0] >> 1))
        if self._optimizer_values is not None:
            _assign(self.model.optimizer.variables, self._optimizer_values)
        if self.reinitialize and round_ > 0:
            _assign(self.model.variables, self._initial_values)
        epochs = self.initial_epochs if round_ == 0 else self.epochs_per_round
        if self.schedule is not None:
            self.schedule.set_round_steps(self._data.steps() * epochs)
        row = self.history.row(round_)
        row.train_examples = len(self._data)
        row.epochs = epochs
        _log(f"self-training round {round_}: {epochs} epoch(s) on {len(self._data):,} examples "
             f"({self._n_source:,} labelled + {len(self._data) - self._n_source:,} pseudo-labelled)", self.verbose)

    def _improved(self, value):
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def _end_round(self, round_, logs):
        if self.monitor not in logs:
            raise ValueError(f"monitor {self.monitor!r} is not in the epoch logs; available: {sorted(logs)} "
                             "(pass validation_data to fit for 'val_*' keys)")
        value = float(logs[self.monitor])
        row = self.history.row(round_)
        row.monitor = value
        row.seconds = round(time.time() - (self._round_started or time.time()), 1)
        if self._improved(value):
            self.best_value, self.best_round, self._wait = value, round_, 0
            self._best_values = _values(self.model.variables)
        else:
            self._wait += 1
        self.history.best_round = self.best_round
        _log(f"self-training round {round_}: {self.monitor} {value:.4f} "
             f"(best {self.best_value:.4f} in round {self.best_round})", self.verbose)
        self._completed = round_
        if self._wait >= self.patience:
            self.stop_reason = f"no improvement of {self.monitor} for {self.patience} round(s)"
        elif round_ >= self.max_rounds:
            self.stop_reason = f"max_rounds ({self.max_rounds}) reached"
        elif not self.pool:
            self.stop_reason = "the unlabelled pool is empty"
        else:
            selected = self._select(round_ + 1)
            if not selected:
                self.stop_reason = ("no pool example reaches the confidence threshold"
                                    if self.threshold is not None else "nothing to select")
        self.history.stop_reason = self.stop_reason
        if self.stop_reason:
            _log(f"self-training stops after round {round_}: {self.stop_reason}", self.verbose)
        self._save_state()

    def predict_pool(self, examples=None):
        """Class probabilities of the pool (or of `examples`), predicted in batches."""
        examples = self.pool if examples is None else examples
        outputs = predict_texts(
            self.model, [e.inputs for e in examples], self.prediction_batch_size,
            preprocessor=self._preprocessor, verbose=1 if self.verbose else 0,
        )
        return softmax(outputs) if self.from_logits else np.asarray(outputs, dtype="float64")

    def _gold_id(self, example_id):
        gold = self._gold.get(example_id)
        if gold is None or isinstance(gold, (int, np.integer)):
            return gold
        return self.label_names.index(gold) if self.label_names and gold in self.label_names else None

    def _select(self, round_):
        """Predicts the pool, moves the selection into the training data; returns its size."""
        _log(f"self-training: predicting {len(self.pool):,} unlabelled examples", self.verbose)
        probabilities = self.predict_pool()
        groups = [e.language for e in self.pool] if self.per_group else None
        selection = select_pseudo_labels(probabilities, self.k_per_class, self.threshold, groups)
        items = []
        for index, label, confidence in zip(selection.indices, selection.labels, selection.confidences):
            example = self.pool[index]
            item = {"id": example.id, "text": example.text, "language": example.language, "round": round_,
                    "label": int(label), "confidence": float(confidence)}
            if example.text_pair is not None:
                item["text_pair"] = example.text_pair
            if self.soft_labels:
                item["target"] = [float(p) for p in probabilities[index]]
            items.append(item)
        taken = set(selection.indices.tolist())
        self.pool = [e for i, e in enumerate(self.pool) if i not in taken]
        self.pseudo_labels.extend(items)
        if items:
            self._data.add([_inputs(p) for p in items], self._pseudo_targets(items))

        row = self.history.row(round_)
        row.selected = len(items)
        row.per_class = selection.counts(self._num_classes).tolist()
        row.shortfalls = [list(s) for s in selection.shortfalls]
        row.pool = len(self.pool)
        row.pseudo_accuracy = self._pseudo_accuracy(items)
        row.pseudo_accuracy_total = self._pseudo_accuracy(self.pseudo_labels)
        names = self.label_names or [str(c) for c in range(self._num_classes)]
        empty = row.per_class.count(0)
        per_class = ", ".join(f"{names[c]} {n}" for c, n in enumerate(row.per_class) if n)
        per_class += f"{'; ' if per_class else ''}{empty} class(es) none" if empty else ""
        accuracy = "" if row.pseudo_accuracy is None else f", pseudo-label accuracy {100 * row.pseudo_accuracy:.1f}%"
        _log(f"self-training: selected {len(items)} for round {round_} ({per_class}); pool {len(self.pool):,}"
             f"{accuracy}", self.verbose)
        if selection.shortfalls:
            short = [f"{names[cls]}{f' ({group})' if self.per_group else ''} {available}"
                     for group, cls, available in selection.shortfalls]
            more = f", ... ({len(short) - 8} more in rounds.json)" if len(short) > 8 else ""
            _log(f"self-training: fewer than k_per_class={self.k_per_class} candidates (all taken) for "
                 f"{len(short)} class(es): {', '.join(short[:8])}{more}", self.verbose)
        return len(items)

    def _pseudo_accuracy(self, items):
        pairs = [(p["label"], self._gold_id(p["id"])) for p in items]
        pairs = [(label, gold) for label, gold in pairs if gold is not None]
        return sum(label == gold for label, gold in pairs) / len(pairs) if pairs else None

    # --- state ---

    def _config_signature(self):
        return {
            "k_per_class": self.k_per_class, "epochs_per_round": self.epochs_per_round,
            "initial_epochs": self.initial_epochs, "max_rounds": self.max_rounds, "patience": self.patience,
            "monitor": self.monitor, "mode": self.mode, "threshold": self.threshold,
            "reinitialize": self.reinitialize, "soft_labels": self.soft_labels, "per_group": self.per_group,
            "seed": self.seed, "initial_pool": self._initial_pool_size,
        }

    def _save_state(self):
        if self.directory is None:
            return
        state = rounds.StateFiles(self.directory)
        last = state.save_variables(f"round{self._completed}-last", self.model.variables)
        best = None
        if self._best_values is not None:
            best = f"round{self.best_round}-best"
            if not state.has(best):
                state.save_values(best, self._best_values)
        state.write_state({
            "config": self._config_signature(),
            "completed_round": self._completed,
            "best_round": self.best_round,
            "best_value": self.best_value,
            "wait": self._wait,
            "stop_reason": self.stop_reason,
            "last_weights": last,
            "best_weights": best,
            "history": self.history.to_dict(),
            "pseudo_labels": self.pseudo_labels,
            "pool": [{"id": e.id, "text": e.text, "language": e.language,
                      **({"text_pair": e.text_pair} if e.text_pair is not None else {})} for e in self.pool],
        })
        state.remove_unreferenced({last, best, "initial"})

    def restore(self):
        """Loads the per-round state of `directory`, if any; returns whether it did.

        Call before `training_data` and `fit`; then fit with
        `initial_epoch=callback.initial_epoch`. Raises `ClxError` when the state was
        written with other settings, or when that run had already stopped.
        """
        if self.directory is None:
            return False
        state = rounds.StateFiles(self.directory).read_state()
        if state is None:
            return False
        saved, current = state["config"], self._config_signature()
        changed = [f"{key} {saved.get(key)!r} -> {value!r}"
                   for key, value in current.items() if saved.get(key) != value]
        if changed:
            raise ClxError(f"{self.directory}: the self-training state was written with other settings "
                           f"({'; '.join(changed)})")
        if state["stop_reason"]:
            raise ClxError(f"{self.directory}: that self-training run already stopped ({state['stop_reason']})")
        self._completed = state["completed_round"]
        self.best_round, self.best_value, self._wait = state["best_round"], state["best_value"], state["wait"]
        self._last_file, self._best_file = state["last_weights"], state["best_weights"]
        self.history = rounds.RoundHistory.from_dict(state["history"])
        self.pseudo_labels = state["pseudo_labels"]
        self.pool = [Example(p["text"], p["language"], p["id"], text_pair=p.get("text_pair")) for p in state["pool"]]
        self._restored = True
        return True
