"""Leave-one-out multi-source transfer (paper 004, §4 and Table 4).

With `data.leave_one_out=true`, `keras_clx.fit` (`runs.fit`) trains one model per target
language on the union of every other listed language (sources and targets),
and evaluates it on that target:

    data.sources = [en], data.targets = [es, nl]
    ->  en + nl -> es      (run directory  <out>/es/)
        en + es -> nl      (run directory  <out>/nl/)

Each sub-run is an ordinary run directory (model, report, log). `<out>` holds
the recipe, `leave_one_out.json` (which languages each sub-run trained on) and
one combined report with one row per target language and their average.
(Plain multi-source transfer needs no mode: list several `data.sources`.)
"""

import copy
import dataclasses
import json
import pathlib
import time

from keras_clx import experiment, run_dir
from keras_clx.console import log
from keras_clx.errors import ClxError, RecipeError
from keras_clx.evaluation.report import LanguageResult, Report
from keras_clx.recipes import Recipe
from keras_clx.run_dir import MANIFEST, sub_run_dirs  # noqa: F401  (sub_run_dirs: re-exported)


@dataclasses.dataclass
class LeaveOneOutRun:
    """The result of a leave-one-out fit: the combined report and one `Run` per target."""

    recipe: Recipe
    directory: pathlib.Path
    report: Report
    runs: dict  # target language -> experiment.Run


def leave_one_out_recipes(recipe):
    """`[(target, recipe)]`: per target, the recipe that trains on all other listed languages."""
    languages = list(dict.fromkeys(recipe.data.sources + recipe.data.targets))
    if not recipe.data.targets:
        raise RecipeError("data.leave_one_out needs at least one language in data.targets")
    if len(languages) < 2:
        raise RecipeError(
            f"data.leave_one_out needs at least two languages in data.sources + data.targets, got {languages}"
        )
    plans = []
    for target in dict.fromkeys(recipe.data.targets):
        sub = copy.deepcopy(recipe)
        sub.data.leave_one_out = False
        sub.data.sources = [lang for lang in languages if lang != target]
        sub.data.targets = [target]
        sub.description = f"{recipe.description} [{'+'.join(sub.data.sources)} -> {target}]".strip()
        plans.append((target, sub))
    return plans


def _read_report(directory):
    data = run_dir.read_json(run_dir.RunDir(directory).report(".json"), "report")
    rows = [LanguageResult(**row) for row in data["languages"]]
    return Report(rows, data["metrics"], title=data["title"])


def fit_sub_run(sub, directory, overwrite=False, verbose=1, callbacks=(), resume=False):
    """One sub-run; with `resume`, a finished one is loaded and an interrupted one continued."""
    run = run_dir.RunDir(directory)
    if resume and run.is_finished:
        log(f"{directory} is finished; loading it", verbose)
        loaded = experiment.load_run(directory)
        loaded.report = _read_report(directory)
        return loaded
    interrupted = resume and run_dir.resumable_run(directory) is not None
    return experiment.fit(
        sub, out_dir=directory, overwrite=overwrite or resume, verbose=verbose, callbacks=callbacks, resume=interrupted
    )


def fit_leave_one_out(recipe, out_dir, overwrite=False, verbose=1, callbacks=(), resume=False):
    """Trains one model per target language on all the other languages (see the module docstring).

    `resume`: continue an interrupted leave-one-out run in `out_dir` with the same
    recipe: finished sub-runs are loaded, an interrupted one (a checkpoint, a completed
    self-training round) is resumed, the others are trained. Returns a `LeaveOneOutRun`; `out_dir/<target>/`
    are ordinary run directories.
    """
    started = time.time()
    plans = leave_one_out_recipes(recipe)
    directory = pathlib.Path(out_dir)
    if resume and not run_dir.RunDir(directory).is_leave_one_out:
        raise ClxError(f"{directory} holds no leave-one-out run to resume")
    run_dir.check_run_dir(directory, recipe, resume=resume, overwrite=overwrite)
    if not resume and not overwrite and any((directory / t).exists() for t, _ in plans):
        raise ClxError(f"{directory} already holds a run; choose another --out or pass --overwrite")
    with run_dir.staged(directory, resume=resume) as parent:
        run = _fit_all(recipe, plans, parent, started, verbose, callbacks, resume)
    run.directory = directory
    for target, sub in run.runs.items():
        sub.directory = directory / target
    log(f"leave-one-out run written to {directory}", verbose)
    return run


def _fit_all(recipe, plans, parent, started, verbose, callbacks, resume):
    """The sub-runs and the combined report, written into `parent` (a `RunDir`)."""
    directory = parent.path
    recipe.to_json(parent.recipe)
    manifest = {t: {"sources": sub.data.sources, "directory": t} for t, sub in plans}
    parent.manifest.write_text(json.dumps(manifest, indent=2) + "\n")

    runs, rows, metric_names = {}, [], None
    for i, (target, sub) in enumerate(plans):
        log(f"leave-one-out {i + 1}/{len(plans)}: {'+'.join(sub.data.sources)} -> {target}", verbose)
        run = fit_sub_run(sub, directory / target, True, verbose, callbacks, resume)
        runs[target] = run
        metric_names = run.report.metric_names
        rows.extend(r for r in run.report.rows if r.role == "target")

    title = f"{recipe.description or recipe.data.dataset} (leave-one-out, {rows[0].split if rows else ''})"
    report = Report(rows, metric_names, title=title)
    report.write(directory, stem=run_dir.REPORT)
    sub_metrics = {t: run_dir.read_json(run_dir.RunDir(directory / t).metrics, "metrics") for t in runs}
    summary = {
        **report.to_dict(),
        "leave_one_out": manifest,
        "backend": next(iter(sub_metrics.values()))["backend"],
        "fit_seconds": {t: m["fit_seconds"] for t, m in sub_metrics.items()},
        "total_seconds": round(time.time() - started, 2),
    }
    parent.metrics.write_text(json.dumps(summary, indent=2) + "\n")
    return LeaveOneOutRun(recipe, directory, report, runs)
