"""The run directory: its file names, the checks before a fit writes into one, and reading one back.

    recipe.json         the resolved recipe (overrides applied)
    labels.json         the label vocabulary
    model.keras         the trained classifier (preprocessor included)
    training_log.csv    per-epoch losses and metrics
    report.md/.csv/.json  per-language scores and the target average
    metrics.json        the report plus timings, backend and versions (written last)
    self_training/      state.json, round<r>-last/best.npz, initial.npz, rounds.*
    leave_one_out.json  (leave-one-out parents) which languages each sub-run trained on

Every module names these files through this one.
"""

import json
import pathlib
import time

from keras_clx.errors import ClxError

RECIPE = "recipe.json"
LABELS = "labels.json"
MODEL = "model.keras"
TRAINING_LOG = "training_log.csv"
REPORT = "report"  # stem: report.md, report.csv, report.json
METRICS = "metrics.json"
SELF_TRAINING = "self_training"
STATE_FILE = "state.json"  # in SELF_TRAINING
ROUNDS = "rounds"  # stem in SELF_TRAINING: rounds.md, .csv, .json, .png
MANIFEST = "leave_one_out.json"


class RunDir:
    """The paths of one run directory."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __truediv__(self, name):
        return self.path / name

    def __str__(self):
        return str(self.path)

    recipe = property(lambda self: self.path / RECIPE)
    labels = property(lambda self: self.path / LABELS)
    model = property(lambda self: self.path / MODEL)
    training_log = property(lambda self: self.path / TRAINING_LOG)
    metrics = property(lambda self: self.path / METRICS)
    manifest = property(lambda self: self.path / MANIFEST)
    self_training = property(lambda self: self.path / SELF_TRAINING)
    state = property(lambda self: self.path / SELF_TRAINING / STATE_FILE)

    def report(self, suffix=".json", stem=REPORT):
        return self.path / f"{stem}{suffix}"

    @property
    def is_leave_one_out(self):
        return self.manifest.is_file()

    @property
    def is_finished(self):
        return self.metrics.is_file() and (self.model.is_file() or self.is_leave_one_out)

    @property
    def is_interrupted(self):
        """A self-training run (or leave-one-out parent) that stopped before it finished."""
        return not self.is_finished and (self.state.is_file() or self.is_leave_one_out)

    def sub_runs(self):
        """The sub-run directories of a leave-one-out parent."""
        manifest = read_json(self.manifest, "leave-one-out manifest")
        return [self.path / entry["directory"] for entry in manifest.values()]


def default_run_dir(recipe_name):
    return pathlib.Path("runs") / f"{recipe_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def sub_run_dirs(directory):
    """The sub-run directories of a leave-one-out run directory."""
    return RunDir(directory).sub_runs()


def read_json(path, what):
    """The JSON in `path`; a one-line `ClxError` naming the file when it is missing or broken."""
    path = pathlib.Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClxError(f"{path} is missing ({what})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ClxError(f"{path} is corrupt ({what}: {error})") from None


def _flat(data, prefix=""):
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and not key.endswith("options"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def check_same_recipe(run, recipe):
    """Refuses to resume `run` with another recipe than the one it started with."""
    if not run.recipe.is_file():
        raise ClxError(f"{run} holds no run to resume ({RECIPE} is missing)")
    saved, current = _flat(read_json(run.recipe, "the run's recipe")), _flat(recipe.to_dict())
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        details = "; ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed[:5])
        raise ClxError(f"{run} was started with another recipe ({details}); "
                       "resume with the same recipe and --set options")


def check_run_dir(directory, recipe, resume=False, overwrite=False):
    """Refuses to mix runs before `fit` writes into `directory`.

    `resume` needs an interrupted run started with the same recipe; otherwise a
    finished run or an interrupted self-training run is replaced only with `overwrite`.
    """
    if directory is None:
        if resume:
            raise ClxError("--resume needs the run directory (--out) of the interrupted run")
        return
    run = RunDir(directory)
    loo = recipe.data.leave_one_out
    if resume:
        if not loo and not recipe.train.self_training.enabled:
            raise ClxError("--resume continues an interrupted self-training run; this recipe has "
                           "train.self_training.enabled=false")
        if run.is_finished:
            raise ClxError(f"{directory} holds a finished run; nothing to resume")
        if loo and not run.is_leave_one_out:
            raise ClxError(f"{directory} holds no leave-one-out run to resume")
        check_same_recipe(run, recipe)
    elif run.is_interrupted and not overwrite and not loo:
        raise ClxError(f"{directory} holds an interrupted self-training run; pass --resume to continue "
                       "it or --overwrite to start again")
    elif (run.model.exists() or run.is_leave_one_out or run.is_interrupted) and not overwrite:
        raise ClxError(f"{directory} already holds a run; choose another --out or pass --overwrite")
