"""Self-training (paper 000, §2 "Self-Learning") as a Keras callback: rounds inside one `model.fit`.

Round 0 trains on the labelled source data. At the end of every round the model
predicts the unlabelled target pool; the `k_per_class` (Kt) most confident
examples of each predicted class (per language) leave the pool and join the
training data with their pseudo-labels, and the next round trains on the source
data plus every pseudo-labelled example so far. Rounds stop when the monitored
validation metric has not improved for `patience` rounds, at `max_rounds`, or
when nothing is left to select; the best round's weights are restored.

The selection rule and the soft-label loss are `selection.py`; the round
arithmetic, early stopping and the state files are `rounds.py`. This module
adapts them to Keras: the growing training data, the per-round optimizer
schedule and the callback hooks.

    callback = SelfTrainingCallback(pool, SelfTrainingSettings(k_per_class=30, epochs_per_round=6))
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
import pathlib
import time

import keras
import numpy as np

from keras_clx.console import log, warn
from keras_clx.data.pipeline import predict_texts
from keras_clx.evaluation.metrics import softmax
from keras_clx.training import rounds
from keras_clx.training.growing_data import TrainingData, pool_examples, pseudo_label_inputs
from keras_clx.training.round_schedule import RoundSchedule, round_optimizer  # noqa: F401  (re-exported)
from keras_clx.training.rounds import SelfTrainingSettings, assign_values, variable_values  # noqa: F401
from keras_clx.training.selection import (  # noqa: F401  (re-exported: the public names live here too)
    LabelAccuracy,
    Selection,
    SoftLabelCrossentropy,
    select_pseudo_labels,
)

# === Callback ===


@dataclasses.dataclass
class _Epoch:
    """Batches of the current epoch and whether this callback or another one stopped it."""

    quota: int = 0
    batches: int = 0
    ended: bool = False  # this callback ended the epoch after `quota` batches
    external_stop: bool = False  # another callback asked to stop training


class SelfTrainingCallback(keras.callbacks.Callback):
    """Self-training rounds inside a plain `model.fit` (every backend).

    Args:
        unlabeled: the pool: `Example`s (their labels are ignored; `language`
            groups the class balance) or strings.
        settings: a `SelfTrainingSettings`.
        label_names: optional class names for the logs and the table.
        gold_labels: optional `{id: label}` (name or id) of pool examples, used only
            to report the accuracy of the pseudo-labels.
        monitor_description: str. Which data `settings.monitor` measures (for the table).
        schedule: optional `RoundSchedule` of the optimizer (its round length is set
            at each round start).
        directory: optional path. Per-round state for `restore` (pseudo-labelled set,
            remaining pool, last and best weights, round counter), the table and the plot.
        verbose: int. 0 silent; 1 round lines and progress bars while predicting.

    After `fit`: `history` (a `RoundHistory`: `to_markdown()`, `write(dir)`),
    `pseudo_labels`, `pool`, `best_round`, `stop_reason`.
    """

    def __init__(
        self,
        unlabeled,
        settings,
        label_names=None,
        gold_labels=None,
        monitor_description="",
        schedule=None,
        directory=None,
        verbose=1,
    ):
        super().__init__()
        self.settings = settings
        self.plan = settings.plan
        self.label_names = list(label_names) if label_names is not None else None
        self.schedule = schedule
        self.directory = pathlib.Path(directory) if directory is not None else None
        self.verbose = verbose
        pool = pool_examples(unlabeled)
        self.state = rounds.RoundState(rounds.RoundHistory(settings.monitor, settings.mode, monitor_description), pool)
        self._initial_pool_size = len(pool)
        self._gold = dict(gold_labels or {})
        self._resumed = None  # (last weights file, best weights file) after `restore`
        self._snapshots = {}  # "optimizer", "initial", "best": variable values
        self._data = None
        self._preprocessor = None
        self._num_classes = None
        self._n_source = 0
        self._epoch = _Epoch()
        self._round_started = None

    # --- the state, by its public names ---

    history = property(lambda self: self.state.history)
    pool = property(lambda self: self.state.pool)
    pseudo_labels = property(lambda self: self.state.pseudo_labels)
    best_round = property(lambda self: self.state.best_round)
    best_value = property(lambda self: self.state.best_value)
    stop_reason = property(lambda self: self.state.stop_reason)

    @property
    def epochs(self):
        """Total epochs to pass to `fit`: round 0 plus `max_rounds` rounds."""
        return self.plan.epochs

    @property
    def initial_epoch(self):
        """Epoch to pass to `fit(initial_epoch=...)`: 0, or where a restored run continues."""
        return self.plan.start(self.state.completed + 1) if self.state.completed >= 0 else 0

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
        targets = np.eye(self._num_classes, dtype="float32")[labels] if self.settings.soft_labels else labels
        self._n_source = len(texts)
        self._data = TrainingData(texts, targets, batch_size, self.settings.seed)
        self._preprocessor = preprocessor
        if self.pseudo_labels:
            self._data.add(
                [pseudo_label_inputs(p) for p in self.pseudo_labels], self._pseudo_targets(self.pseudo_labels)
            )
        return self._data.dataset(preprocessor)

    def _pseudo_targets(self, items):
        if self.settings.soft_labels:
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
        if optimizer is not None:
            self._snapshots["optimizer"] = variable_values(optimizer.variables)
        files = rounds.StateFiles(self.directory) if self.directory is not None else None
        if self.settings.reinitialize:
            if files is not None and files.has("initial"):
                self._snapshots["initial"] = files.load_variables("initial", self.model.variables)
            else:
                self._snapshots["initial"] = variable_values(self.model.variables)
                if files is not None:
                    files.save_variables("initial", self.model.variables)
        if self._resumed:
            last, best = self._resumed
            assign_values(self.model.variables, files.load_variables(last, self.model.variables))
            if best is not None:
                self._snapshots["best"] = files.load_variables(best, self.model.variables)
            log(
                f"self-training: resumed after round {self.state.completed} ({len(self.pseudo_labels)} "
                f"pseudo-labels, pool {len(self.pool)})",
                self.verbose,
            )
        elif not self.history.rows:
            self.history.rows.append(rounds.RoundRecord(round=0, pool=len(self.pool)))

    def on_epoch_begin(self, epoch, logs=None):
        self._data.epoch = epoch
        self._epoch = _Epoch(quota=self._data.steps())
        round_, first, _ = self.plan.round_of(epoch)
        if first:
            self._start_round(round_)

    def on_train_batch_end(self, batch, logs=None):
        self._epoch.batches += 1
        if self._epoch.batches >= self._epoch.quota:
            if self.model.stop_training:
                self._epoch.external_stop = True
            self.model.stop_training = True
            self._epoch.ended = True

    def on_epoch_end(self, epoch, logs=None):
        if not self._epoch.ended and not self.model.stop_training:
            raise RuntimeError(
                f"epoch {epoch} ended after {self._epoch.batches} of {self._epoch.quota} batches: fit the model "
                "on `callback.training_data(...)` without steps_per_epoch"
            )
        external = self._epoch.external_stop or (self.model.stop_training and not self._epoch.ended)
        round_, _, last = self.plan.round_of(epoch)
        if last:
            self._end_round(round_, logs or {})
        self.model.stop_training = external or self.stop_reason is not None

    def on_train_end(self, logs=None):
        if self._snapshots.get("best") is not None and self.best_round != self.state.completed:
            assign_values(self.model.variables, self._snapshots["best"])
            log(
                f"self-training: restored the weights of round {self.best_round} "
                f"({self.settings.monitor} {self.best_value:.4f})",
                self.verbose,
            )
        if self.directory is not None:
            self.history.write(self.directory, label_names=self.label_names)

    # --- rounds ---

    def _start_round(self, round_):
        """A fresh fine-tuning run: re-seed, reset the optimizer, size the schedule, maybe re-initialise."""
        self._round_started = time.time()
        rounds.reseed(self.settings.seed, round_)
        if "optimizer" in self._snapshots:
            assign_values(self.model.optimizer.variables, self._snapshots["optimizer"])
        if self.settings.reinitialize and round_ > 0:
            assign_values(self.model.variables, self._snapshots["initial"])
        epochs = self.plan.epochs_of(round_)
        if self.schedule is not None:
            self.schedule.set_round_steps(self._data.steps() * epochs)
        row = self.history.row(round_)
        row.train_examples = len(self._data)
        row.epochs = epochs
        log(
            f"self-training round {round_}: {epochs} epoch(s) on {len(self._data):,} examples "
            f"({self._n_source:,} labelled + {len(self._data) - self._n_source:,} pseudo-labelled)",
            self.verbose,
        )

    def _end_round(self, round_, logs):
        monitor = self.settings.monitor
        if monitor not in logs:
            raise ValueError(
                f"monitor {monitor!r} is not in the epoch logs; available: {sorted(logs)} "
                "(pass validation_data to fit for 'val_*' keys)"
            )
        value = float(logs[monitor])
        row = self.history.row(round_)
        row.monitor = value
        row.seconds = round(time.time() - (self._round_started or time.time()), 1)
        self.state.completed = round_
        if self.state.improved(value):
            self._snapshots["best"] = variable_values(self.model.variables)
        log(
            f"self-training round {round_}: {monitor} {value:.4f} "
            f"(best {self.best_value:.4f} in round {self.best_round})",
            self.verbose,
        )
        if self.state.wait >= self.settings.patience:
            self.state.stop(f"no improvement of {monitor} for {self.settings.patience} round(s)")
        elif round_ >= self.settings.max_rounds:
            self.state.stop(f"max_rounds ({self.settings.max_rounds}) reached")
        elif not self.pool:
            self.state.stop("the unlabelled pool is empty")
        elif not self._select(round_ + 1):
            self.state.stop(
                "no pool example reaches the confidence threshold"
                if self.settings.threshold is not None
                else "nothing to select"
            )
        if self.stop_reason:
            log(f"self-training stops after round {round_}: {self.stop_reason}", self.verbose)
        if self.directory is not None:
            rounds.StateFiles(self.directory).save(
                self.state,
                self.settings.signature(self._initial_pool_size),
                self.model.variables,
                self._snapshots.get("best"),
            )

    def predict_pool(self, examples=None):
        """Class probabilities of the pool (or of `examples`), predicted in batches."""
        examples = self.pool if examples is None else examples
        outputs = predict_texts(
            self.model,
            [e.inputs for e in examples],
            self.settings.prediction_batch_size,
            preprocessor=self._preprocessor,
            verbose=1 if self.verbose else 0,
        )
        return softmax(outputs) if self.settings.from_logits else np.asarray(outputs, dtype="float64")

    def _gold_id(self, example_id):
        gold = self._gold.get(example_id)
        if gold is None or isinstance(gold, (int, np.integer)):
            return gold
        return self.label_names.index(gold) if self.label_names and gold in self.label_names else None

    def _select(self, round_):
        """Predicts the pool, moves the selection into the training data; returns its size."""
        log(f"self-training: predicting {len(self.pool):,} unlabelled examples", self.verbose)
        probabilities = self.predict_pool()
        groups = [e.language for e in self.pool] if self.settings.per_group else None
        selection = select_pseudo_labels(probabilities, self.settings.k_per_class, self.settings.threshold, groups)
        items = []
        for index, label, confidence in zip(selection.indices, selection.labels, selection.confidences):
            example = self.pool[index]
            item = {
                "id": example.id,
                "text": example.text,
                "language": example.language,
                "round": round_,
                "label": int(label),
                "confidence": float(confidence),
            }
            if example.text_pair is not None:
                item["text_pair"] = example.text_pair
            if self.settings.soft_labels:
                item["target"] = [float(p) for p in probabilities[index]]
            items.append(item)
        taken = set(selection.indices.tolist())
        self.state.pool = [e for i, e in enumerate(self.pool) if i not in taken]
        self.pseudo_labels.extend(items)
        if items:
            self._data.add([pseudo_label_inputs(p) for p in items], self._pseudo_targets(items))
        self._record_selection(round_, selection, items)
        return len(items)

    def _record_selection(self, round_, selection, items):
        row = self.history.row(round_)
        row.selected = len(items)
        row.per_class = selection.counts(self._num_classes).tolist()
        row.shortfalls = [list(s) for s in selection.shortfalls]
        row.pool = len(self.pool)
        row.pseudo_accuracy = self._pseudo_accuracy(items)
        row.pseudo_accuracy_total = self._pseudo_accuracy(self.pseudo_labels)
        names = self.label_names or [str(c) for c in range(self._num_classes)]
        lines, warning = row.selection_messages(names, self.settings.k_per_class, self.settings.per_group)
        for line in lines:
            log(line, self.verbose)
        if warning:
            warn(warning)

    def _pseudo_accuracy(self, items):
        pairs = [(p["label"], self._gold_id(p["id"])) for p in items]
        pairs = [(label, gold) for label, gold in pairs if gold is not None]
        return sum(label == gold for label, gold in pairs) / len(pairs) if pairs else None

    # --- resume ---

    def restore(self):
        """Loads the per-round state of `directory`, if any; returns whether it did.

        Call before `training_data` and `fit`; then fit with
        `initial_epoch=callback.initial_epoch`. Raises `ClxError` when the state was
        written with other settings, or when that run had already stopped.
        """
        if self.directory is None:
            return False
        restored = rounds.StateFiles(self.directory).restore(self.settings.signature(self._initial_pool_size))
        if restored is None:
            return False
        self.state, last, best = restored
        self._resumed = (last, best)
        return True
