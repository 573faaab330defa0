"""Training checkpoints: everything an interrupted fit needs to finish as if it had never stopped.

A checkpoint (`<run>/checkpoints/step-<global step>.npz`) holds the model's variables
(weights and the dropout `SeedGenerator` states), the optimizer's (moments, step
counter, gradient accumulators), torch's global generator state (unseeded dropout
on torch draws from it) and, as JSON, the position in the data (`epoch`, `step`
within it: `data_order.epoch_stream` rebuilds the rest of the order) and the state of
the callbacks that keep one (best epoch, patience). It is written to a temporary file
and moved into place (`os.replace`), so a kill leaves the previous checkpoint intact;
only the newest `keep` are kept. As Keras's `BackupAndRestore`: saved at each epoch's
end and every `every_steps` batches, restored before `fit`, deleted when the run is
complete (`experiment.fit` removes the folder).
"""

import json
import os
import pathlib

import keras
import numpy as np

PREFIX = "step-"


def _numpy(value):
    try:
        return keras.ops.convert_to_numpy(value)
    except ValueError:  # a TensorFlow distributed value (MultiWorkerMirroredStrategy): replicas agree
        return keras.ops.convert_to_numpy(value.values[0])


def variable_values(variables):
    """NumPy copies of `variables`' values (on every backend and strategy)."""
    return [_numpy(v.value) for v in variables]


def _rng_state():
    if keras.backend.backend() == "torch":
        import torch

        return torch.get_rng_state().numpy()
    return None


def _set_rng_state(state):
    if state is not None and keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(np.asarray(state, dtype=np.uint8)))


def atomic_savez(path, arrays):
    """`np.savez(path, **arrays)`, written beside `path` and moved into place."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def checkpoints(directory):
    """The checkpoint files of `directory`, oldest first."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob(f"{PREFIX}*.npz") if p.stem[len(PREFIX) :].isdigit()]
    return sorted(found, key=lambda p: int(p.stem[len(PREFIX) :]))


def latest(directory):
    """The newest checkpoint file of `directory`, or None."""
    found = checkpoints(directory)
    return found[-1] if found else None


def save(path, model, meta):
    """Writes the model's and optimizer's variables, the RNG state and `meta` (a JSON dict) to `path`."""
    arrays = {f"model_{i}": value for i, value in enumerate(variable_values(model.variables))}
    if model.optimizer is not None and model.optimizer.built:
        arrays.update({f"optimizer_{i}": v for i, v in enumerate(variable_values(model.optimizer.variables))})
    rng = _rng_state()
    if rng is not None:
        arrays["rng_torch"] = rng
    arrays["meta"] = np.asarray(json.dumps(meta))
    atomic_savez(path, arrays)


def read_meta(path):
    with np.load(path) as data:
        return json.loads(str(data["meta"]))


def _assign(variables, values, what, path):
    if len(values) != len(variables):
        raise ValueError(f"{path}: {len(values)} {what} values for {len(variables)} variables")
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != tuple(value.shape):
            raise ValueError(
                f"{path}: {what} variable {variable.path} has shape {tuple(variable.shape)}, "
                f"the checkpoint {tuple(value.shape)}"
            )
        variable.assign(value)


def restore(path, model):
    """Loads a checkpoint into a compiled `model` (building its optimizer); returns its `meta`."""
    with np.load(path) as data:
        model_values = [data[f"model_{i}"] for i in range(sum(k.startswith("model_") for k in data.files))]
        optimizer_values = [data[f"optimizer_{i}"] for i in range(sum(k.startswith("optimizer_") for k in data.files))]
        rng = data["rng_torch"] if "rng_torch" in data.files else None
        meta = json.loads(str(data["meta"]))
    _assign(model.variables, model_values, "model", path)
    if optimizer_values:
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        _assign(model.optimizer.variables, optimizer_values, "optimizer", path)
    meta["rng_state"] = rng  # set by `TrainingCheckpoint` at the first batch (fit's set-up may draw before)
    return meta


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint at every epoch's end and every `every_steps` batches.

    Args:
        directory: where the checkpoints go (`<run>/checkpoints`).
        steps_per_epoch: batches per full epoch (the global step of a checkpoint).
        every_steps: also save every that many batches (None: epochs only).
        keep: how many of the newest checkpoints to keep.
        stateful: callbacks with `get_state()` / `set_state(state)` (best epoch,
            early stopping) saved with each checkpoint; put this callback after them.
        first_step: the batch the first epoch starts at (a resumed mid-epoch fit).
    """

    def __init__(self, directory, steps_per_epoch, every_steps=None, keep=2, stateful=(), first_step=0, rng_state=None):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.steps_per_epoch = steps_per_epoch
        self.every_steps = every_steps
        self.keep = keep
        self.stateful = list(stateful)
        self._epoch = 0
        self._step = first_step
        self._rng_state = rng_state

    def on_train_batch_begin(self, batch, logs=None):
        if self._rng_state is not None:
            _set_rng_state(self._rng_state)
            self._rng_state = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every_steps and self._step % self.every_steps == 0 and self._step < self.steps_per_epoch:
            self._save(self._epoch, self._step)

    def on_epoch_end(self, epoch, logs=None):
        self._step = 0
        self._save(epoch + 1, 0)

    def _save(self, epoch, step):
        meta = {
            "epoch": epoch,
            "step": step,
            "steps_per_epoch": self.steps_per_epoch,
            "callbacks": [c.get_state() for c in self.stateful],
        }
        path = self.directory / f"{PREFIX}{epoch * self.steps_per_epoch + step}.npz"
        save(path, self.model, meta)
        for old in checkpoints(self.directory)[: -self.keep]:
            old.unlink(missing_ok=True)
