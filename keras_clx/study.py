"""Studies: one recipe over seeds x variants, to tell with seeds whether a method helps.

    keras-clx study recipes/mtod.py --seeds 0,1,2 --vary train.perturbation=none,adversarial \\
        --vary train.self_training.enabled=false,true --out studies/mtod

The variants are every combination of the `--vary` values; the first value of
each key is the baseline. Variants that are not a grid are named instead, the first
one being the baseline (combined with `--vary` when both are given):

    keras-clx study recipes/umsab.py --seeds 0,1,2 --variant vanilla: \
        --variant "adversarial: train.perturbation=adversarial" \
        --variant "adv+st: train.perturbation=adversarial train.self_training.enabled=true"
 Each cell (variant x seed) is an ordinary run directory
made by `keras_clx.fit`:

    <out>/plan.json                       the grid: recipe, --set overrides, seeds, variants
    <out>/<variant>/seed<N>/              one run (or leave-one-out run) per cell
    <out>/study.md / .csv / .json / .png  the aggregation (`keras_clx.study_report`)

Cells run one after another in this process. A cell whose `report.json` exists is
skipped, an interrupted self-training (or leave-one-out) cell is resumed, any other
incomplete cell is trained again, so a killed study continues where it stopped.
"""

import itertools
import json
import pathlib
import re
import sys

from keras_clx import run_dir
from keras_clx.errors import ClxError, RecipeError
from keras_clx.recipes import Recipe, load_recipe, resolve_recipe_path
from keras_clx.run_dir import RunDir
from keras_clx.study_plan import PLAN_FILE, StudyPlan, Variant
from keras_clx.study_report import study_report
from keras_clx.training import processes

_SECTIONS = ("train.", "data.", "model.", "eval.")


def parse_seeds(text):
    """`"0,1,2"` -> `[0, 1, 2]`."""
    items = [t.strip() for t in str(text).split(",")]
    if not items or not all(re.fullmatch(r"-?\d+", t) for t in items):
        raise ClxError(f"--seeds must be comma-separated integers (e.g. 0,1,2), got {text!r}")
    seeds = [int(t) for t in items]
    if len(set(seeds)) != len(seeds):
        raise ClxError(f"--seeds lists a seed twice: {text!r}")
    return seeds


def split_values(text):
    """Splits `a,b,[c,d]` at the commas outside brackets and quotes."""
    values, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    return values + [current.strip()]


def parse_vary(items):
    """`["train.perturbation=none,adversarial", ...]` (or `(key, values)` pairs) -> `[(key, [values])]`."""
    vary, seen = [], set()
    for item in items:
        if isinstance(item, str):
            if "=" not in item:
                raise ClxError(f"--vary {item!r} is not of the form key=value1,value2")
            key, text = (part.strip() for part in item.split("=", 1))
            values = split_values(text) if text.strip() else []
        else:
            key, values = item[0], [str(v).strip() for v in item[1]]
        if key in seen:
            raise ClxError(f"--vary {key}: the key is given twice")
        if key == "train.seed":
            raise ClxError("--vary train.seed: give the seeds with --seeds")
        if not values or any(v == "" for v in values):
            raise ClxError(f"--vary {key}: needs a non-empty list of values (key=value1,value2)")
        if len(set(values)) != len(values):
            raise ClxError(f"--vary {key}: a value is listed twice ({', '.join(values)})")
        seen.add(key)
        vary.append((key, values))
    return vary


def parse_variants(items):
    """`["name: key=value key=value", ...]` -> `[(name, [overrides])]` (named variants)."""
    named, seen = [], set()
    for item in items:
        if ":" not in item:
            raise ClxError(f"--variant {item!r} is not of the form 'name: key=value key=value'")
        name, text = (part.strip() for part in item.split(":", 1))
        if not name or not re.fullmatch(r"[A-Za-z0-9._+-]+", name):
            raise ClxError(f"--variant {item!r}: the name must be letters, digits or . _ + - (e.g. adv+st)")
        if name in seen:
            raise ClxError(f"--variant {name}: the name is given twice")
        overrides = text.split()
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise ClxError(f"--variant {name}: {bad[0]!r} is not key=value")
        if any(o.split("=", 1)[0] == "train.seed" for o in overrides):
            raise ClxError(f"--variant {name}: give the seeds with --seeds")
        seen.add(name)
        named.append((name, overrides))
    return named


def _short(key):
    return key[len(next((s for s in _SECTIONS if key.startswith(s)), "")) :]


def _variants(vary, named=()):
    if not vary and not named:
        return [Variant("baseline", "baseline", [])]
    variants = []
    for name, extra in named or [(None, [])]:
        for values in itertools.product(*(v for _, v in vary)):
            parts = [f"{_short(k)}={v}" for (k, _), v in zip(vary, values)]
            label = " ".join(([name] if name else []) + parts)
            directory = re.sub(r"[^A-Za-z0-9._=+-]", "_", ",".join(([name] if name else []) + parts))
            overrides = [*extra, *(f"{k}={v}" for (k, _), v in zip(vary, values))]
            variants.append(Variant(label, directory, overrides))
    return variants


def check_recipe(recipe):
    """What `fit` would refuse, found before any training (values of the transfer step,
    the task, self-training and leave-one-out settings)."""
    from keras_clx import self_training_setup
    from keras_clx.multisource import leave_one_out_recipes
    from keras_clx.tasks import get_task
    from keras_clx.training.steps import TransferConfig

    get_task(recipe.data.task)
    TransferConfig.from_recipe(recipe.train)
    if recipe.train.self_training.enabled:
        self_training_setup.check_recipe(recipe)
    if recipe.data.leave_one_out:
        leave_one_out_recipes(recipe)


def make_plan(recipe, seeds=(0,), vary=(), overrides=(), check=True, variants=()):
    """The study's `StudyPlan`; every variant's recipe is built (and with `check`, checked)
    first, so a bad `--vary` key or value is an error that names it, before any training."""
    path = str(resolve_recipe_path(recipe))
    overrides = list(overrides)
    seeds = parse_seeds(seeds if isinstance(seeds, str) else ",".join(map(str, seeds)))
    vary = parse_vary(vary)
    named = parse_variants(variants)
    base = load_recipe(path, overrides)
    set_keys = {o.split("=", 1)[0].strip() for o in overrides}
    for key, values in vary:
        if key in set_keys:
            raise ClxError(f"--vary {key}: the key is also given with --set")
        for value in values:
            try:
                recipe_ = load_recipe(path, [*overrides, f"{key}={value}"])
                if check:
                    check_recipe(recipe_)
            except ClxError as error:
                raise RecipeError(f"--vary {key}={value}: {error}") from None
    variants = _variants(vary, named)
    if len({v.directory for v in variants}) < len(variants):
        raise ClxError(f"--vary values give variants the same directory name: {[v.directory for v in variants]}")
    for variant in variants:
        try:
            recipe_ = load_recipe(path, [*overrides, *variant.overrides])
            if check:
                check_recipe(recipe_)
        except ClxError as error:
            raise RecipeError(f"variant {variant.label}: {error}") from None
    plan = StudyPlan(
        path, overrides, seeds, [[k, v] for k, v in vary], variants, base.data.task, description=base.description
    )
    if check:  # (imports Keras)
        from keras_clx.tasks import get_task

        plan.primary_metric = get_task(base.data.task).primary_metric
    return plan


def cell_state(directory):
    """`"complete"` (report.json exists), `"resume"` (an interrupted self-training or
    leave-one-out run, in place or in a killed fit's staging directory), `"rerun"`
    (another incomplete run) or `"new"`."""
    run = RunDir(directory)
    if run.report(".json").is_file():
        return "complete"
    if run_dir.resumable_run(directory) is not None or (run.is_leave_one_out and run.recipe.is_file()):
        return "resume"
    return "rerun" if run.path.exists() else "new"


def _check_finished(plan, directory):
    """A finished cell must have been run with the recipe this plan gives it (a setting added to
    keras-clx since, at its default, is the same recipe)."""
    for variant, seed, path in plan.cells(directory):
        saved = RunDir(path).recipe
        if cell_state(path) != "complete" or not saved.is_file():
            continue
        try:
            same = (
                Recipe.from_dict(json.loads(saved.read_text())).to_dict() == plan.cell_recipe(variant, seed).to_dict()
            )
        except (RecipeError, ValueError):  # a setting since removed or renamed, or a broken file
            same = False
        if not same:
            raise ClxError(f"{path} was run with another recipe; use another --out for a changed study")


def _progress(message, verbose):
    if verbose:
        print(message, file=sys.stderr, flush=True)


def run_study(recipe, out_dir, seeds=(0,), vary=(), overrides=(), verbose=1, callbacks=(), samples=1000, variants=()):
    """Runs every cell of the study (see the module docstring), then writes the aggregation.

    Args:
        recipe: a recipe file or bundled recipe name.
        out_dir: the study directory.
        seeds: the seeds (`train.seed`) of every variant, e.g. `[0, 1, 2]` or `"0,1,2"`.
        vary: `["key=value1,value2", ...]` or `[(key, [values]), ...]`; the first value
            of each key is the baseline, the variants are every combination.
        overrides: `--set` overrides applied to every cell.
        verbose: 0 silent; 1 a progress line per cell and one line per epoch.
        callbacks: Keras callbacks passed to every cell's `fit`.
        variants: named variants `["name: key=value key=value", ...]`, the first the baseline.
        samples: bootstrap samples of the paired intervals.

    Returns the aggregation (`study_report`'s dict).
    """
    import keras

    from keras_clx import runs

    if processes.from_environment(keras.backend.backend(), "data_parallel").several:
        raise ClxError(
            "keras-clx study runs in one process; the environment describes several (KERAS_DISTRIBUTION_*, TF_CONFIG)"
        )
    plan = make_plan(recipe, seeds, vary, overrides, variants=variants)
    directory = pathlib.Path(out_dir)
    _check_finished(plan, directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / PLAN_FILE).write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
    cells = plan.cells(directory)
    for i, (variant, seed, path) in enumerate(cells, start=1):
        state = cell_state(path)
        note = {"complete": " (done, skipped)", "resume": " (resuming)"}.get(state, "")
        _progress(f"[cell {i}/{len(cells)}] {variant.label} seed={seed}{note}", verbose)
        if state == "complete":
            continue
        keras.backend.clear_session()
        runs.fit(
            plan.cell_recipe(variant, seed),
            out_dir=path,
            overwrite=state == "rerun",
            resume=state == "resume",
            verbose=2 if verbose else 0,
            callbacks=callbacks,
        )
    keras.backend.clear_session()
    return study_report(directory, samples=samples)
