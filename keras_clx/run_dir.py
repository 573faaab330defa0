"""The run directory: its file names, the checks before a fit writes into one, and reading one back.

    recipe.json         the resolved recipe (overrides applied)
    labels.json         the label vocabulary
    model.keras         the trained classifier (preprocessor included)
    training_log.csv    per-epoch losses and metrics (dev_<language>_<metric>: per-epoch dev scores)
    curves.png          the primary dev metric of every language by epoch
    tensorboard/        TensorBoard event files (train.tensorboard=true)
    checkpoints/        while a run is in progress only: step-<n>.npz, best-<epoch>.npz
    report.md/.csv/.json  per-language scores and the target average
    metrics.json        the report plus timings, backend and versions (written last)
    self_training/      state.json, round<r>-last/best.npz, initial.npz, rounds.*
    leave_one_out.json  (leave-one-out parents) which languages each sub-run trained on

Every module names these files through this one.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
import time

from keras_clx.errors import ClxError, DivergenceError

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
CHECKPOINTS = "checkpoints"
CURVES = "curves.png"
TENSORBOARD = "tensorboard"


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
    checkpoints = property(lambda self: self.path / CHECKPOINTS)
    curves = property(lambda self: self.path / CURVES)

    @property
    def has_checkpoint(self):
        return self.checkpoints.is_dir() and any(self.checkpoints.glob("step-*.npz"))

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
        """A run with a checkpoint or a completed self-training round (or a leave-one-out parent)
        that stopped before it finished."""
        return not self.is_finished and (self.state.is_file() or self.has_checkpoint or self.is_leave_one_out)

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
        raise ClxError(
            f"{run} was started with another recipe ({details}); resume with the same recipe and --set options"
        )


def check_run_dir(directory, recipe, resume=False, overwrite=False, writer=True):
    """Refuses to mix runs before `fit` writes into `directory`.

    `resume` needs an interrupted run started with the same recipe; otherwise a
    finished or interrupted run is replaced only with `overwrite`. Only the `writer`
    deletes stale staging directories.
    """
    if directory is None:
        if resume:
            raise ClxError("--resume needs the run directory (--out) of the interrupted run")
        return
    run = resumable_run(directory, clean=writer) or RunDir(directory)
    loo = recipe.data.leave_one_out
    if resume:
        if run.is_finished and not loo:  # a finished leave-one-out parent resumes by loading its sub-runs
            raise ClxError(f"{directory} holds a finished run; nothing to resume")
        if loo and not run.is_leave_one_out:
            raise ClxError(f"{directory} holds no leave-one-out run to resume")
        if not loo and not run.is_interrupted:
            raise ClxError(
                f"{directory} holds no interrupted run to resume (no checkpoint, no completed self-training round)"
            )
        check_same_recipe(run, recipe)
    elif run.is_interrupted and not overwrite and not run.is_leave_one_out:
        raise ClxError(
            f"{directory} holds an interrupted run; pass --resume to continue it or --overwrite to start again"
        )
    elif (run.model.exists() or run.is_leave_one_out or run.is_interrupted) and not overwrite:
        raise ClxError(f"{directory} already holds a run; choose another --out or pass --overwrite")


# === Transactional writes: a fit writes into a staging directory, moved into place when complete ===


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stagings(target):
    """`(pid, path)` of the staging directories of `target` (`.NAME.partial-<pid>` beside it)."""
    out = []
    for path in target.parent.glob(f".{target.name}.partial-*"):
        suffix = path.name.rsplit("-", 1)[-1]
        if suffix.isdigit():
            out.append((int(suffix), path))
    return out


def stale_resumable(target, clean=True):
    """Staging directories of dead processes that hold an interrupted run (newest first);
    the other stale ones are deleted (`clean`: the writer's job, see `staged`)."""
    target = pathlib.Path(target)
    keep = []
    for pid, path in _stagings(target):
        if _alive(pid) and pid != os.getpid():
            continue
        if RunDir(path).is_interrupted:
            keep.append(path)
        elif pid != os.getpid() and clean:
            shutil.rmtree(path, ignore_errors=True)
    return sorted(keep, key=lambda p: p.stat().st_mtime, reverse=True)


def resumable_run(target, clean=True):
    """The interrupted run to resume for `target`: a killed fit's staging directory, or `target` itself."""
    stale = stale_resumable(target, clean)
    if stale:
        return RunDir(stale[0])
    return RunDir(target) if RunDir(target).is_interrupted else None


def _publish(staging, target):
    """Moves `staging` to `target`; an old `target` is removed only after the new one is in place."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged(directory, resume=False, writer=True, ready=lambda: None):
    """Yields the `RunDir` a fit writes into; moves it to `directory` when the block completes.

    Only the `writer` (process 0 of a multi-process run) touches `directory`: every
    other process writes into a throwaway directory under the system's temporary one,
    deleted when the block ends (on `resume`, a copy of the interrupted run, which it
    reads its checkpoints from). `ready()` is called once the others have copied
    and before the writer moves anything (a barrier across the processes).

    A failure (an exception, Ctrl-C) deletes the staging directory, unless it holds
    an interrupted run (a checkpoint, a completed self-training round; a leave-one-out
    parent) and the failure is not a diverged loss: that one is moved to
    `directory` when nothing is there, and kept beside it otherwise, for `--resume`.
    A killed process leaves its staging directory; the next fit deletes it, or
    resumes it when it holds completed rounds. With `resume`, the interrupted run
    (`resumable_run`) is moved into the staging directory and continued there.
    """
    if not writer:
        with _throwaway(directory, resume, ready) as run:
            yield run
        return
    ready()
    target = pathlib.Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    own = target.parent / f".{target.name}.partial-{os.getpid()}"
    source = resumable_run(target) or (RunDir(target) if RunDir(target).is_leave_one_out else None) if resume else None
    if own.exists() and (source is None or source.path != own):
        shutil.rmtree(own)
    if source is not None and source.path != own:
        os.replace(source.path, own)
    own.mkdir(exist_ok=True)
    try:
        yield RunDir(own)
    except BaseException as error:
        if not RunDir(own).is_interrupted or isinstance(error, DivergenceError):
            shutil.rmtree(own, ignore_errors=True)
        elif not target.exists():
            os.replace(own, target)
        raise
    shutil.rmtree(RunDir(own).checkpoints, ignore_errors=True)  # a finished run needs none
    for path in stale_resumable(target):  # replaced by this finished run
        shutil.rmtree(path, ignore_errors=True)
    _publish(own, target)


@contextlib.contextmanager
def _throwaway(directory, resume, ready):
    """A non-writer process's staging directory: private, deleted at the end."""
    own = pathlib.Path(tempfile.mkdtemp(prefix="keras-clx-not-a-run-"))
    try:
        source = resumable_run(directory, clean=False) if resume else None
        if source is not None:
            shutil.copytree(source.path, own, dirs_exist_ok=True)
        ready()
        yield RunDir(own)
    finally:
        shutil.rmtree(own, ignore_errors=True)


def trim_training_log(path, first_epoch):
    """Keeps the header and the rows of epochs before `first_epoch` (a resumed run appends the rest)."""
    path = pathlib.Path(path)
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [
        line for line in lines[1:] if line.split(",", 1)[0].isdigit() and int(line.split(",", 1)[0]) < first_epoch
    ]
    path.write_text("".join(kept))
