"""Self-training rounds: their epochs, early stopping, the per-round record and the state that resumes a run.

`RoundPlan` maps epochs to rounds; `RoundState` is what a run knows between
rounds (best round, patience counter, pool, pseudo-labels, history) and is
what `StateFiles` persists. A state directory (`<run>/self_training/` in a run)
holds:

    state.json               round counter, best round, patience counter, the per-round
                             history, the pseudo-labelled set and the remaining pool
    round<r>-last.npz        every model variable (weights and RNG states) after round r
    round<r>-best.npz        the best round's variables
    initial.npz              the initial variables (with `reinitialize`)
    rounds.md / .csv / .json / .png   the per-round table and plot (at the end of training)

Files are written to a temporary name and renamed, weights before `state.json`,
so an interruption leaves the last complete round on disk.
"""

import dataclasses
import io
import json
import os
import pathlib

import keras
import numpy as np

from keras_clx import run_dir
from keras_clx.data.records import Example
from keras_clx.errors import ClxError
from keras_clx.training.checkpoints import variable_values  # noqa: F401  (re-exported)
from keras_clx.training.round_history import RoundHistory, RoundRecord  # noqa: F401  (re-exported)

STATE_FILE = run_dir.STATE_FILE


# === Round arithmetic ===


@dataclasses.dataclass(frozen=True)
class RoundPlan:
    """Epochs per round: round 0 has `initial_epochs`, then `max_rounds` rounds of `epochs_per_round`."""

    initial_epochs: int
    epochs_per_round: int
    max_rounds: int

    @property
    def epochs(self):
        """Total epochs to pass to `fit`."""
        return self.initial_epochs + self.max_rounds * self.epochs_per_round

    def epochs_of(self, round_):
        return self.initial_epochs if round_ == 0 else self.epochs_per_round

    def start(self, round_):
        """The first epoch of `round_`."""
        return 0 if round_ == 0 else self.initial_epochs + (round_ - 1) * self.epochs_per_round

    def round_of(self, epoch):
        """`(round, is_first_epoch, is_last_epoch)` of `epoch`."""
        if epoch < self.initial_epochs:
            return 0, epoch == 0, epoch == self.initial_epochs - 1
        offset = epoch - self.initial_epochs
        return (
            1 + offset // self.epochs_per_round,
            offset % self.epochs_per_round == 0,
            (offset % self.epochs_per_round == self.epochs_per_round - 1),
        )


@dataclasses.dataclass(frozen=True)
class SelfTrainingSettings:
    """What a self-training run does (`SelfTrainingCallback`'s settings).

    Args:
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
        prediction_batch_size: int. Batch size for predicting the pool.
        from_logits: bool. Whether the model outputs logits.
        seed: int. Shuffling of the training data and the per-round RNG seeds.
    """

    k_per_class: int
    epochs_per_round: int = 1
    max_rounds: int = 5
    patience: int = 2
    monitor: str = "val_accuracy"
    mode: str = "max"
    initial_epochs: int = None
    threshold: float = None
    reinitialize: bool = False
    soft_labels: bool = False
    per_group: bool = True
    prediction_batch_size: int = 64
    from_logits: bool = True
    seed: int = 0

    def __post_init__(self):
        for name, low in (("k_per_class", 1), ("epochs_per_round", 1), ("max_rounds", 0), ("patience", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {self.mode!r}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold!r}")
        if self.initial_epochs is None:
            object.__setattr__(self, "initial_epochs", self.epochs_per_round)

    @property
    def plan(self):
        return RoundPlan(int(self.initial_epochs), self.epochs_per_round, self.max_rounds)

    def signature(self, pool_size):
        """The settings a resumed run must share with the saved state."""
        keys = (
            "k_per_class",
            "epochs_per_round",
            "initial_epochs",
            "max_rounds",
            "patience",
            "monitor",
            "mode",
            "threshold",
            "reinitialize",
            "soft_labels",
            "per_group",
            "seed",
        )
        return {**{key: getattr(self, key) for key in keys}, "initial_pool": pool_size}


def reseed(seed, round_):
    """Re-seeds the global RNGs from `(seed, round_)`, as `keras.utils.set_random_seed`
    does but without `tf.random.set_seed`.

    Layers without their own seed (torch's dropout) then draw the same numbers in
    a resumed run. TensorFlow's global seed is left alone: setting it clears its
    kernel caches, and with them the SentencePiece tokenizer resource that live
    tf.data pipelines use (XLM-R runs then fail with "SentencepieceResource does
    not exist"); keras-clx's pipelines shuffle with explicit seeds. This reaches
    into `keras.src` (no public API resets the seed generator without TF's seed).
    """
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    seed = int(np.random.SeedSequence([seed, round_]).generate_state(1)[0] >> 1)
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


# === Early stopping and the state between rounds ===


@dataclasses.dataclass
class RoundState:
    """Where a self-training run stands after its last completed round."""

    history: RoundHistory
    pool: list  # `Example`s not selected yet
    pseudo_labels: list = dataclasses.field(default_factory=list)  # dicts: id, text, language, round, label, ...
    completed: int = -1  # last completed round
    best_round: int = None
    best_value: float = None
    wait: int = 0  # rounds without improvement
    stop_reason: str = None

    def improved(self, value):
        """Records `value` of the round that just ended; returns whether it is the best so far."""
        better = self.best_value is None or (
            value > self.best_value if self.history.mode == "max" else value < self.best_value
        )
        if better:
            self.best_value, self.best_round, self.wait = value, self.completed, 0
        else:
            self.wait += 1
        self.history.best_round = self.best_round
        return better

    def stop(self, reason):
        self.stop_reason = self.history.stop_reason = reason

    def to_dict(self):
        return {
            "completed_round": self.completed,
            "best_round": self.best_round,
            "best_value": self.best_value,
            "wait": self.wait,
            "stop_reason": self.stop_reason,
            "history": self.history.to_dict(),
            "pseudo_labels": self.pseudo_labels,
            "pool": [
                {
                    "id": e.id,
                    "text": e.text,
                    "language": e.language,
                    **({"text_pair": e.text_pair} if e.text_pair is not None else {}),
                }
                for e in self.pool
            ],
        }

    @classmethod
    def from_dict(cls, data):
        return cls(
            RoundHistory.from_dict(data["history"]),
            [Example(p["text"], p["language"], p["id"], text_pair=p.get("text_pair")) for p in data["pool"]],
            data["pseudo_labels"],
            data["completed_round"],
            data["best_round"],
            data["best_value"],
            data["wait"],
            data["stop_reason"],
        )


# === State on disk ===


def _replace(path, write):
    """Writes through `write(file)` to a temporary file, then renames it over `path`."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class StateFiles:
    """The files of one self-training state directory."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)

    def path(self, name):
        return self.directory / f"{name}.npz"

    def has(self, name):
        return self.path(name).is_file()

    def save_values(self, name, values):
        self.directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(values)}

        def write(f):
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            f.write(buffer.getvalue())

        _replace(self.path(name), write)
        return name

    def save_variables(self, name, variables):

        return self.save_values(name, variable_values(variables))

    def load_variables(self, name, variables):
        """The arrays of `name`, checked against `variables` (count and shapes)."""
        with np.load(self.path(name)) as data:
            values = [data[f"v{i}"] for i in range(len(data.files))]
        shapes = [tuple(v.shape) for v in variables]
        if [tuple(v.shape) for v in values] != shapes:
            raise ClxError(
                f"{self.path(name)}: saved variables do not match the model "
                f"({len(values)} arrays for {len(shapes)} variables)"
            )
        return values

    def write_state(self, state):
        text = json.dumps(state, indent=1) + "\n"
        _replace(self.directory / STATE_FILE, lambda f: f.write(text.encode()))

    def read_state(self):
        path = self.directory / STATE_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ClxError(f"{path}: not a readable self-training state ({error})") from None

    def save(self, state, config, last, best_values=None):
        """Writes the weights of the round that just ended (`last`: variables), the best
        round's (`best_values`: arrays) and then `state.json`; drops older weight files."""
        last_name = self.save_variables(f"round{state.completed}-last", last)
        best = None
        if best_values is not None:
            best = f"round{state.best_round}-best"
            if not self.has(best):
                self.save_values(best, best_values)
        self.write_state({"config": config, "last_weights": last_name, "best_weights": best, **state.to_dict()})
        self.remove_unreferenced({last_name, best, "initial"})

    def restore(self, config):
        """`(RoundState, last weights file, best weights file)`, or None without a state.

        Raises `ClxError` when the state was written with another `config` or that run had stopped.
        """
        saved = self.read_state()
        if saved is None:
            return None
        changed = [
            f"{key} {saved['config'].get(key)!r} -> {value!r}"
            for key, value in config.items()
            if saved["config"].get(key) != value
        ]
        if changed:
            raise ClxError(
                f"{self.directory}: the self-training state was written with other settings ({'; '.join(changed)})"
            )
        if saved["stop_reason"]:
            raise ClxError(f"{self.directory}: that self-training run already stopped ({saved['stop_reason']})")
        return RoundState.from_dict(saved), saved["last_weights"], saved["best_weights"]

    def remove_unreferenced(self, keep):
        """Deletes weight files of earlier rounds that `state.json` no longer names."""
        for path in self.directory.glob("*.npz"):
            if path.stem not in keep:
                path.unlink()


def assign_values(variables, values):
    """Assigns `values` (from `variable_values`) back to `variables`."""
    if len(variables) != len(values):
        raise ValueError(f"expected {len(variables)} arrays, got {len(values)}")
    for variable, value in zip(variables, values):
        variable.assign(value)
