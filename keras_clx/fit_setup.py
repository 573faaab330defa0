"""A recipe's training features turned into what `experiment._fit` passes to `model.fit`.

- the training data in a reproducible per-epoch order (`training.data_order`), from the
  checkpoint's position when a run resumes;
- checkpoints in `<run>/checkpoints/` (`training.checkpoints`) for every run but
  self-training (its rounds are its checkpoints);
- per-epoch dev scores of every language, best-epoch selection and early stopping
  (`training.epoch_eval`), TensorBoard scalars.
"""

import dataclasses

import keras

from keras_clx import run_dir
from keras_clx.errors import ClxError
from keras_clx.training import checkpoints
from keras_clx.training.data_order import ShortFirstEpoch, epoch_stream
from keras_clx.training.epoch_eval import (
    BestEpoch,
    DevEvaluation,
    HideFromProgress,
    monitor_key,
)
from keras_clx.training.scalars import ScalarLogger


@dataclasses.dataclass
class Position:
    """Where a (resumed) plain run starts: epoch, batch within it, and its callbacks' saved state."""

    epoch: int = 0
    step: int = 0
    callbacks: list = dataclasses.field(default_factory=list)
    rng_state: object = None

    @property
    def resumed(self):
        return bool(self.epoch or self.step)


def checkpoint_dir(directory):
    return run_dir.RunDir(directory).checkpoints


def restore(directory, model, steps_per_epoch):
    """Loads the newest checkpoint of the run in `directory` into the compiled `model`."""
    path = checkpoints.latest(checkpoint_dir(directory))
    if path is None:
        return Position()
    meta = checkpoints.restore(path, model)
    if meta["steps_per_epoch"] != steps_per_epoch:
        raise ClxError(
            f"{path} was written with {meta['steps_per_epoch']} batches per epoch, this run has "
            f"{steps_per_epoch}: the data changed since the run was interrupted"
        )
    return Position(meta["epoch"], meta["step"], meta["callbacks"], meta["rng_state"])


def training_stream(task, corpus, labels, model, recipe, position, preprocessor=None):
    """The training batches from `position` to the last epoch, each epoch in the order of `(seed, epoch)`,
    through `preprocessor` (default: the model's; code-switching passes its own)."""
    batch = recipe.train.batch_size

    def make(examples):
        return task.dataset(examples, labels, preprocessor or model.preprocessor, batch)

    return epoch_stream(corpus.train, make, recipe.train.seed, recipe.train.epochs, position.epoch, position.step)


def callbacks(recipe, task, corpus, labels, directory, steps_per_epoch, position, self_training=None, verbose=1):
    """`(first, last, best)`: callbacks to put before the run's own (`first`) and after them (`last`),
    and the `BestEpoch` callback or None. `directory` is the staging `RunDir`."""
    train = recipe.train
    first, last, best = [], [], None
    if position.step:
        first.append(ShortFirstEpoch(steps_per_epoch - position.step))
    evaluation = None
    if train.epoch_eval:
        key = monitor_key(train.monitor, task.primary_metric) if train.monitor != "last" else None
        dev = {lang: corpus.languages[lang].dev for lang in corpus.sources + corpus.targets}
        evaluation = DevEvaluation(
            task,
            dev,
            corpus.sources,
            corpus.targets,
            labels,
            recipe.eval.batch_size,
            train.epoch_eval_examples,
            shown=[key] if key else [],
        )
        first.append(evaluation)
        if key is not None:
            best = BestEpoch(key, train.patience, checkpoint_dir(directory.path), verbose)
            first.append(best)
    if self_training is not None:
        first.append(SelfTrainingScalars(self_training))
    if train.tensorboard:
        last.append(ScalarLogger(directory.path / run_dir.TENSORBOARD))
    if self_training is None:
        stateful = [best] if best is not None else []
        last.append(
            checkpoints.TrainingCheckpoint(
                checkpoint_dir(directory.path),
                steps_per_epoch,
                train.checkpoint_every_steps,
                stateful=stateful,
                first_step=position.step,
                rng_state=position.rng_state,
            )
        )
        for callback, state in zip(stateful, position.callbacks):
            callback.set_state(state)
    if evaluation is not None:
        last.append(HideFromProgress(evaluation))
    return first, last, best


class SelfTrainingScalars(keras.callbacks.Callback):
    """Adds the round an epoch trained in (`self_training_round`), the pseudo-labels that round trained
    on (`self_training_selected`: selected before it) and the pool left (`self_training_pool`) to the
    epoch logs, for the training log and TensorBoard."""

    def __init__(self, self_training):
        super().__init__()
        self.self_training = self_training

    def on_epoch_end(self, epoch, logs=None):
        round_ = self.self_training.plan.round_of(epoch)[0]
        row = next((r for r in self.self_training.history.rows if r.round == round_), None)
        if logs is not None and row is not None:
            logs["self_training_round"] = float(round_)
            logs["self_training_selected"] = float(row.selected)
            logs["self_training_pool"] = float(row.pool)
