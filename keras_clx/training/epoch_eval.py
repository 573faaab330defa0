"""Per-epoch dev scores of every language, best-epoch selection with early stopping, and `curves.png`.

`DevEvaluation` scores each language's dev split after every epoch (batched
prediction through the task's `score`, at most `max_examples` per language) and adds
to the epoch logs `dev_<language>_<metric>` and the averages of the primary metric
over the sources and over the targets, `source_dev` and `target_dev` (the paper's
model selection). `BestEpoch` watches one of them (`train.monitor`), keeps the best
epoch's weights and stops after `patience` epochs without improvement; the weights
of the best epoch are restored when training ends.
"""

import csv
import pathlib

import keras
import numpy as np

from keras_clx.training.checkpoints import atomic_savez, variable_values


def monitor_key(monitor, primary_metric):
    """The epoch-log key `train.monitor` names (`source_dev`, `target_dev`, `dev:<lang>`)."""
    if monitor.startswith("dev:"):
        return f"dev_{monitor[4:]}_{primary_metric}"
    return monitor


class DevEvaluation(keras.callbacks.Callback):
    """Adds every language's dev scores to the epoch logs.

    Args:
        task: the run's `TaskKind` (its `score` and metric names).
        dev: `{language: [Example]}`; `sources`, `targets`: which languages average into
            `source_dev` and `target_dev`.
        labels: the run's `LabelVocabulary`; batch_size: of the predictions.
        max_examples: cap per language (the first ones; None: all).
        shown: the keys the progress line keeps (the others go to the log files only).
    """

    def __init__(self, task, dev, sources, targets, labels, batch_size, max_examples=None, shown=()):
        super().__init__()
        self.task, self.labels, self.batch_size = task, labels, batch_size
        self.dev = {
            lang: examples[:max_examples] if max_examples else examples for lang, examples in dev.items() if examples
        }
        self.sources = [lang for lang in sources if lang in self.dev]
        self.targets = [lang for lang in targets if lang in self.dev]
        self.shown = set(shown)
        self.scores = {}

    def evaluate(self):
        """`{key: value}` for the current weights."""
        out, primary = {}, self.task.primary_metric
        for lang, examples in self.dev.items():
            for name, value in self.task.score(self.model, examples, self.labels, self.batch_size).items():
                out[f"dev_{lang}_{name}"] = float(value)
        for key, languages in (("source_dev", self.sources), ("target_dev", self.targets)):
            if languages:
                out[key] = float(np.mean([out[f"dev_{lang}_{primary}"] for lang in languages]))
        return out

    def on_epoch_end(self, epoch, logs=None):
        self.scores = self.evaluate()
        if logs is not None:
            logs.update(self.scores)


class HideFromProgress(keras.callbacks.Callback):
    """Removes the per-language dev keys that `DevEvaluation.shown` does not name from the epoch logs
    (after the log files have them): the progress line shows the monitor and the averages."""

    def __init__(self, evaluation):
        super().__init__()
        self.evaluation = evaluation

    def on_epoch_end(self, epoch, logs=None):
        for key in list(logs or {}):
            if key.startswith("dev_") and key not in self.evaluation.shown:
                logs.pop(key)


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the highest `key` in the logs; restores them at the end.

    `patience`: stop after that many epochs without improvement (None: train every
    epoch). `directory`: where the best weights are saved (`best-<epoch>.npz`), so that a
    resumed run restores them too (`get_state` / `set_state` go into the checkpoints).
    """

    def __init__(self, key, patience=None, directory=None, verbose=1):
        super().__init__()
        self.key, self.patience, self.verbose = key, patience, verbose
        self.directory = pathlib.Path(directory) if directory is not None else None
        self.best, self.best_epoch, self.wait, self.stopped_epoch = None, None, 0, None
        self._weights = None
        self._last_epoch = None

    def get_state(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def set_state(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        path = self._path(self.best_epoch)
        if self.best_epoch is not None and path is not None and path.is_file():
            with np.load(path) as data:
                self._weights = [data[f"v{i}"] for i in range(len(data.files))]

    def _path(self, epoch):
        return None if self.directory is None or epoch is None else self.directory / f"best-{epoch}.npz"

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch
        if self.key not in (logs or {}):
            raise ValueError(f"train.monitor: {self.key!r} is not in the epoch logs ({sorted(logs or {})})")
        value = float(logs[self.key])
        if self.best is None or value > self.best:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self._weights = variable_values(self.model.variables)
            if self.directory is not None:
                atomic_savez(self._path(epoch), {f"v{i}": w for i, w in enumerate(self._weights)})
                for old in self.directory.glob("best-*.npz"):
                    if old != self._path(epoch):
                        old.unlink(missing_ok=True)
        else:
            self.wait += 1
            if self.patience is not None and self.wait > self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self._weights is None or self.best_epoch == self._last_epoch:
            return
        for variable, value in zip(self.model.variables, self._weights):
            variable.assign(value)
        if self.verbose:
            print(
                f"[keras-clx] restored the weights of epoch {self.best_epoch + 1} ({self.key} {self.best:.4f})",
                flush=True,
            )

    def summary(self):
        """What metrics.json records: the monitor, the restored epoch (0-based, as training_log.csv) and value."""
        return {
            "monitor": self.key,
            "best_epoch": self.best_epoch,
            "best_value": self.best,
            "patience": self.patience,
            "stopped_early": self.stopped_epoch is not None,
            "last_epoch": self._last_epoch,
        }


def plot_curves(log_path, out_path, metric, title=""):
    """`curves.png`: `dev_<language>_<metric>` by epoch, one line per language, from training_log.csv.

    Returns False (and draws nothing) when the log has no such column.
    """
    with open(log_path, newline="") as f:
        rows = list(csv.DictReader(f))
    suffix = f"_{metric}"
    columns = [c for c in (rows[0] if rows else {}) if c.startswith("dev_") and c.endswith(suffix)]
    if not columns:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for column in columns:
        values = [float(r[column]) if r[column] not in ("", "NA") else np.nan for r in rows]
        axis.plot(epochs, values, marker="o", label=column[4 : -len(suffix)])
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"dev {metric}")
    axis.set_xticks(epochs)
    axis.set_title(title or f"dev {metric} per language", fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_path)
    return True
