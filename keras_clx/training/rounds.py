"""Self-training rounds: the per-round record, its table and plot, and the state that resumes a run.

A self-training state directory (`<run>/self_training/` in a run) holds:

    state.json               round counter, best round, patience counter, the per-round
                             history, the pseudo-labelled set and the remaining pool
    round<r>-last.npz        every model variable (weights and RNG states) after round r
    round<r>-best.npz        the best round's variables
    initial.npz              the initial variables (with `reinitialize`)
    rounds.md / .csv / .json / .png   the per-round table and plot (at the end of training)

Files are written to a temporary name and renamed, weights before `state.json`,
so an interruption leaves the last complete round on disk.
"""

import csv
import dataclasses
import io
import json
import os
import pathlib

import numpy as np

STATE_FILE = "state.json"


# === Per-round record ===


@dataclasses.dataclass
class RoundRecord:
    """One round: what was selected before it, how it trained, what it scored."""

    round: int
    epochs: int = 0
    train_examples: int = 0
    selected: int = 0  # pseudo-labels added before this round
    per_class: list = dataclasses.field(default_factory=list)
    shortfalls: list = dataclasses.field(default_factory=list)  # [group, class, available]
    pool: int = 0  # pool size after the selection
    monitor: float = None
    pseudo_accuracy: float = None  # of this round's pseudo-labels (where gold labels exist)
    pseudo_accuracy_total: float = None  # of all pseudo-labels so far
    seconds: float = None


def _percent(value):
    return "–" if value is None else f"{100 * value:.2f}"


@dataclasses.dataclass
class RoundHistory:
    """Every round of a self-training run; `format_table` is Markdown."""

    monitor: str
    mode: str = "max"
    monitor_description: str = ""
    rows: list = dataclasses.field(default_factory=list)
    best_round: int = None
    stop_reason: str = None

    def row(self, round_):
        """The record of `round_` (created if missing)."""
        for row in self.rows:
            if row.round == round_:
                return row
        self.rows.append(RoundRecord(round=round_))
        self.rows.sort(key=lambda r: r.round)
        return self.row(round_)

    def _monitor_text(self, value):
        if value is None:
            return "–"
        return _percent(value) if self.mode == "max" and 0.0 <= value <= 1.0 else f"{value:.4f}"

    def format_table(self, label_names=None):
        """A Markdown table: one row per round; the best round is marked `*`."""
        num_classes = max((len(r.per_class) for r in self.rows), default=0)
        names = "/".join(label_names or [str(c) for c in range(num_classes)])
        per_class_header = f"per class ({names})" if len(names) <= 48 else "per class (label order)"
        header = ["round", "epochs", "train examples", "selected", per_class_header, "pool", self.monitor,
                  "pseudo acc (round)", "pseudo acc (all)"]
        lines = [header]
        for r in self.rows:
            mark = " *" if r.round == self.best_round else ""
            per_class = "/".join(str(n) for n in r.per_class) if r.per_class else "–"
            short = " (short)" if r.shortfalls else ""
            lines.append([
                f"{r.round}{mark}", str(r.epochs), f"{r.train_examples:,}",
                f"{r.selected:,}" if r.round else "–", per_class + short, f"{r.pool:,}",
                self._monitor_text(r.monitor), _percent(r.pseudo_accuracy), _percent(r.pseudo_accuracy_total),
            ])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = []
        for i, line in enumerate(lines):
            out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |")
            if i == 0:
                out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(out)

    def summary(self):
        """One paragraph: what was monitored, the best round, why rounds stopped."""
        what = f" on {self.monitor_description}" if self.monitor_description else ""
        best = "" if self.best_round is None else f"; best round {self.best_round} (weights restored)"
        stop = f"; stopped: {self.stop_reason}" if self.stop_reason else ""
        return f"Monitor: `{self.monitor}`{what}{best}{stop}. `*` marks the best round; percentages in %."

    def to_dict(self):
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "monitor_description": self.monitor_description,
            "best_round": self.best_round,
            "stop_reason": self.stop_reason,
            "rounds": [dataclasses.asdict(r) for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data):
        history = cls(data["monitor"], data["mode"], data.get("monitor_description", ""))
        history.rows = [RoundRecord(**r) for r in data["rounds"]]
        history.best_round = data.get("best_round")
        history.stop_reason = data.get("stop_reason")
        return history

    def to_markdown(self, label_names=None):
        return f"## Self-training rounds\n\n{self.summary()}\n\n{self.format_table(label_names)}\n"

    def write(self, directory, label_names=None, stem="rounds"):
        """Writes `<stem>.md`, `.csv`, `.json` and the plot `<stem>.png` into `directory`."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{stem}.md").write_text(self.to_markdown(label_names))
        (directory / f"{stem}.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        fields = [f.name for f in dataclasses.fields(RoundRecord)]
        with open(directory / f"{stem}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(fields + ["best"])
            for r in self.rows:
                values = dataclasses.asdict(r)
                writer.writerow([json.dumps(values[k]) if isinstance(values[k], list) else values[k]
                                 for k in fields] + [r.round == self.best_round])
        self.plot(directory / f"{stem}.png")

    def plot(self, path):
        """Monitored metric and pseudo-label accuracy (left), selections and pool size (right)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        rounds = [r.round for r in self.rows]
        figure = Figure(figsize=(10, 3.8), dpi=100)
        FigureCanvasAgg(figure)
        left, right = figure.subplots(1, 2)
        scores = [(r.round, r.monitor) for r in self.rows if r.monitor is not None]
        if scores:
            left.plot(*zip(*scores), marker="o", label=f"{self.monitor}")
        accuracy = [(r.round, r.pseudo_accuracy) for r in self.rows if r.pseudo_accuracy is not None]
        if accuracy:
            left.plot(*zip(*accuracy), marker="s", linestyle="--", label="pseudo-label accuracy (round)")
        if self.best_round is not None:
            left.axvline(self.best_round, color="grey", linestyle=":", label="best round")
        left.set_xlabel("round")
        left.set_title(self.monitor_description or self.monitor, fontsize=9)
        left.legend(fontsize=8)
        right.bar(rounds, [r.selected for r in self.rows], color="tab:green", label="selected")
        right.set_xlabel("round")
        right.set_ylabel("pseudo-labels selected")
        pool_axis = right.twinx()
        pool_axis.plot(rounds, [r.pool for r in self.rows], color="tab:purple", marker="o", label="pool")
        pool_axis.set_ylabel("unlabelled pool")
        right.set_title("selection per round and remaining pool", fontsize=9)
        for axis in (left, right):
            axis.set_xticks(rounds)
        figure.tight_layout()
        figure.savefig(path)


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
        import keras

        return self.save_values(name, [keras.ops.convert_to_numpy(v.value) for v in variables])

    def load_variables(self, name, variables):
        """The arrays of `name`, checked against `variables` (count and shapes)."""
        from keras_clx.errors import ClxError

        with np.load(self.path(name)) as data:
            values = [data[f"v{i}"] for i in range(len(data.files))]
        shapes = [tuple(v.shape) for v in variables]
        if [tuple(v.shape) for v in values] != shapes:
            raise ClxError(f"{self.path(name)}: saved variables do not match the model "
                           f"({len(values)} arrays for {len(shapes)} variables)")
        return values

    def write_state(self, state):
        text = json.dumps(state, indent=1) + "\n"
        _replace(self.directory / STATE_FILE, lambda f: f.write(text.encode()))

    def read_state(self):
        path = self.directory / STATE_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def remove_unreferenced(self, keep):
        """Deletes weight files of earlier rounds that `state.json` no longer names."""
        for path in self.directory.glob("*.npz"):
            if path.stem not in keep:
                path.unlink()


# === Recipe -> callback (used by `experiment.fit`) ===


@dataclasses.dataclass
class SelfTrainingSetup:
    """What `experiment.fit` needs for a self-training run."""

    callback: object
    train: object  # the growing tf.data.Dataset
    validation: object
    epochs: int
    initial_epoch: int
    steps_per_epoch: int  # round 0's
    compile_kwargs: dict


def state_directory(run_dir):
    return pathlib.Path(run_dir) / "self_training"


def check_recipe(recipe):
    """Refuses, before any data is loaded, what self-training cannot do."""
    from keras_clx.errors import RecipeError

    config, train = recipe.train.self_training, recipe.train
    if recipe.data.task not in ("sequence", "pair"):
        raise RecipeError("train.self_training supports sequence classification (data.task=sequence or pair) only")
    if config.soft_labels and (train.perturbation != "none" or train.instance_weighting != "none"):
        raise RecipeError("train.self_training.soft_labels needs Keras's own train step; the transfer step's loss "
                          "takes label ids (set train.perturbation and train.instance_weighting to none, or "
                          "soft_labels=false)")
    if config.monitor not in ("target_dev", "source_dev"):
        raise RecipeError(f"train.self_training.monitor must be target_dev or source_dev, got {config.monitor!r}")


def check_run_dir(directory, recipe, resume=False, overwrite=False):
    """Refuses to mix runs: `resume` needs the same recipe; a fresh run must not
    silently replace an interrupted self-training run (unless `overwrite`).
    Also checks a self-training recipe (`check_recipe`)."""
    import shutil

    from keras_clx.errors import ClxError

    if recipe.train.self_training.enabled:
        check_recipe(recipe)

    if directory is None:
        if resume:
            raise ClxError("--resume needs the run directory (--out) of the interrupted run")
        return
    state = state_directory(directory)
    has_state = (state / STATE_FILE).is_file()
    if resume:
        if not recipe.train.self_training.enabled:
            raise ClxError("--resume continues an interrupted self-training run; this recipe has "
                           "train.self_training.enabled=false")
        saved_path = pathlib.Path(directory) / "recipe.json"
        if (pathlib.Path(directory) / "model.keras").is_file():
            raise ClxError(f"{directory} holds a finished run; nothing to resume")
        if not saved_path.is_file():
            raise ClxError(f"{directory} holds no run to resume (recipe.json is missing)")
        saved, current = _flat(json.loads(saved_path.read_text())), _flat(recipe.to_dict())
        changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if changed:
            details = "; ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed[:5])
            raise ClxError(f"{directory} was started with another recipe ({details}); "
                           "resume with the same recipe and --set options")
    elif has_state:
        if not overwrite:
            raise ClxError(f"{directory} holds an interrupted self-training run; pass --resume to continue "
                           "it or --overwrite to start again")
        shutil.rmtree(state)


def _flat(data, prefix=""):
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and not key.endswith("options"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def setup(recipe, corpus, model, labels, run_dir, resume=False, verbose=1):
    """The callback, datasets and compile settings for `recipe.train.self_training`.

    The pool is every target language's unlabelled text (balanced per language);
    gold labels that the corpus keeps for it go into a side mapping used only to
    report pseudo-label accuracy. `monitor`: `target_dev` (as the paper: the
    targets' labelled dev sets) or `source_dev` (strict zero-shot).
    """
    from keras_clx.errors import RecipeError
    from keras_clx.tasks import get_task
    from keras_clx.training.self_training import (
        LabelAccuracy,
        SelfTrainingCallback,
        SoftLabelCrossentropy,
        round_optimizer,
    )

    check_recipe(recipe)
    config, train = recipe.train.self_training, recipe.train
    if config.monitor == "target_dev":
        dev = [e for lang in corpus.targets for e in corpus.languages[lang].dev]
        description = f"target-language dev ({', '.join(corpus.targets)}; {len(dev):,} examples)"
    elif config.monitor == "source_dev":
        dev = corpus.dev
        description = f"source dev ({', '.join(corpus.sources)}; {len(dev):,} examples; strict zero-shot)"
    if not dev:
        raise RecipeError(f"train.self_training.monitor={config.monitor}: that dev data is empty")
    pool = corpus.unlabeled()
    if not pool:
        raise RecipeError("self-training needs unlabelled target text; the corpus has none")
    gold = {e.id: e.label for lang in corpus.targets for e in corpus.languages[lang].unlabeled
            if e.label is not None and e.label in labels}

    task = get_task(recipe.data.task)
    steps = -(-len(corpus.train) // train.batch_size)
    optimizer, schedule = round_optimizer(train.learning_rate, train.warmup_ratio, train.weight_decay,
                                          round_steps=steps * train.epochs)
    callback = SelfTrainingCallback(
        pool,
        k_per_class=config.k_per_class,
        epochs_per_round=config.epochs_per_round,
        max_rounds=config.max_rounds,
        patience=config.patience,
        monitor="val_accuracy",
        initial_epochs=train.epochs,
        threshold=config.threshold,
        reinitialize=config.reinitialize,
        soft_labels=config.soft_labels,
        label_names=labels.names,
        gold_labels=gold,
        monitor_description=description,
        prediction_batch_size=recipe.eval.batch_size,
        schedule=schedule,
        directory=state_directory(run_dir),
        seed=train.seed,
        verbose=verbose,
    )
    if resume:
        callback.restore()
    train_ds = callback.training_data([e.inputs for e in corpus.train], labels.encode(corpus.train),
                                      train.batch_size, preprocessor=model.preprocessor)
    validation = task.dataset(dev, labels, model.preprocessor, recipe.eval.batch_size)
    compile_kwargs = {"optimizer": optimizer}
    if config.soft_labels:
        compile_kwargs.update(loss=SoftLabelCrossentropy(from_logits=True), metrics=[LabelAccuracy()])
    return SelfTrainingSetup(callback, train_ds, validation, callback.epochs, callback.initial_epoch,
                             steps, compile_kwargs)
