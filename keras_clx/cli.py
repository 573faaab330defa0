"""`keras-clx` command line: a thin layer over the Python API.

Keras is imported only after `--backend` has set `KERAS_BACKEND`. User errors
(`ClxError`) print one line and exit with code 2 (3 for a diverged training run,
`DivergenceError`), without a traceback.
"""

import json
import os

import click

from keras_clx import __version__
from keras_clx.cli_runtime import load_frameworks, quiet_frameworks, user_errors

BACKENDS = ("tensorflow", "jax", "torch")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keras-clx")
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default=None,
    help="Keras backend (sets KERAS_BACKEND before Keras is imported).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or phase lines.")
@click.pass_context
def main(ctx, backend, quiet):
    """Zero-shot cross-lingual text classification with Keras 3."""
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    quiet_frameworks()
    ctx.obj = {"verbose": 0 if quiet else 1}


def _overrides_option(command):
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a recipe field, e.g. --set train.epochs=2 (repeatable).",
    )(command)


@main.command()
@click.argument("recipe")
@_overrides_option
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<recipe>-<time>).")
@click.option("--data-dir", help="Where data sets live (default $CLX_DATA_DIR).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its last checkpoint.")
@click.pass_context
@user_errors
def fit(ctx, recipe, overrides, out, data_dir, overwrite, resume):
    """Train RECIPE (a file or bundled name), evaluate every language, write a run."""
    from keras_clx import recipes

    loaded = recipes.load_recipe(recipe, overrides)
    load_frameworks()
    from keras_clx import runs
    from keras_clx.experiment import Run
    from keras_clx.run_dir import default_run_dir
    from keras_clx.training import processes

    if data_dir:
        loaded.data.data_dir = data_dir
    name = recipes.resolve_recipe_path(recipe).stem
    run = runs.fit(
        loaded, out_dir=out or default_run_dir(name), overwrite=overwrite, verbose=ctx.obj["verbose"], resume=resume
    )
    where = processes.current()
    if not where.is_writer:  # several processes: process 0 prints the tables
        click.echo(f"{where.describe()}: done; process 0 wrote the run to {run.directory}")
        return
    if isinstance(run, Run) and run.rounds is not None:  # a self-training run (not a `LeaveOneOutRun`)
        click.echo(run.rounds.to_markdown(run.labels.names))
    click.echo(run.report.format_table())


@main.command()
@click.argument("recipe")
@_overrides_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Preset directory to write (then: fit --set model.backbone=OUT).",
)
@click.option(
    "--text",
    "texts",
    multiple=True,
    metavar="[LANG=]PATH",
    help="Pretrain on this file (one text per line) instead of the recipe's data; "
    "LANG defaults to the file name's stem (repeatable).",
)
@click.option("--data-dir", help="Where data sets live (default $CLX_DATA_DIR).")
@click.option("--resume", is_flag=True, help="Continue from the last epoch checkpoint in --out.")
@click.option("--overwrite", is_flag=True, help="Start again, discarding checkpoints in --out.")
@click.option(
    "--stop-after-epoch",
    type=click.IntRange(min=1),
    default=None,
    help="End after this epoch (resume later with --resume).",
)
@click.pass_context
@user_errors
def pretrain(ctx, recipe, overrides, out, texts, data_dir, resume, overwrite, stop_after_epoch):
    """Masked-LM pretraining of RECIPE's backbone on every language's unlabelled text (settings: model.pretrain.*)."""
    from keras_clx import recipes

    loaded = recipes.load_recipe(recipe, overrides)
    if data_dir:
        loaded.data.data_dir = data_dir
    load_frameworks()
    from keras_clx.pretraining import pretrain as run_pretraining
    from keras_clx.pretraining.texts import read_text_files

    files = read_text_files(texts) if texts else None

    result = run_pretraining(
        loaded,
        out,
        texts=files,
        resume=resume,
        overwrite=overwrite,
        verbose=ctx.obj["verbose"],
        stop_after_epoch=stop_after_epoch,
    )
    if result.complete:
        click.echo(result.format_table())
    else:
        click.echo(
            f"stopped after epoch {len(result.losses)} of {loaded.model.pretrain.epochs}; continue with --resume"
        )


@main.command()
@click.argument("run_dir", type=click.Path())
@_overrides_option
@click.option(
    "--split", type=click.Choice(["dev", "test"]), default=None, help="Split to score (default: the recipe's)."
)
@click.option("--data-dir", help="Where data sets live (default $CLX_DATA_DIR).")
@click.pass_context
@user_errors
def evaluate(ctx, run_dir, overrides, split, data_dir):
    """Re-evaluate a trained run on every language (writes report-<split>.*)."""
    load_frameworks()
    from keras_clx import experiment, recipes
    from keras_clx.code_switch_setup import add_challenge_rows
    from keras_clx.data.datasets import load_corpus

    run = experiment.load_run(run_dir)
    recipes.apply_overrides(run.recipe, overrides)
    if data_dir:
        run.recipe.data.data_dir = data_dir
    corpus = load_corpus(run.recipe.data, seed=run.recipe.train.seed)
    verbose = ctx.obj["verbose"]
    report = experiment.evaluate(run.model, corpus, run.labels, run.recipe, split=split, verbose=verbose)
    add_challenge_rows(report, run.model, corpus, run.labels, run.recipe, run.directory, verbose, split)
    report.write(run.directory, stem=f"report-{split or run.recipe.eval.split}")
    click.echo(report.format_table())


def _read_lines(path):
    """`(line number, line)` of every non-blank line of a UTF-8 file."""
    from keras_clx.data.readers import numbered_lines

    return [(number, line) for number, line in numbered_lines(path) if line.strip()]


def _split_pair(line, path, number):
    """The second text of a `text<TAB>second text` input line."""
    from keras_clx.errors import DataError

    fields = line.split("\t")
    if len(fields) != 2 or not all(f.strip() for f in fields):
        raise DataError(
            f"expected 2 non-empty tab-separated texts (a sentence pair), found {len(fields)} field(s)",
            path=path,
            line=number,
        )
    return fields[1]


@main.command()
@click.argument("run_dir", type=click.Path(), required=False)
@click.option(
    "--saved-model",
    type=click.Path(),
    help="Answer from an exported SavedModel (DIR/NAME/N, or DIR/NAME for its latest version) instead of a run.",
)
@click.option("--text", "texts", multiple=True, help="A text to classify (repeatable).")
@click.option(
    "--pair", "pairs", multiple=True, help="The second text of a sentence pair, one per --text, in order (pair runs)."
)
@click.option(
    "--input", "input_path", type=click.Path(), help="A file with one text per line (pair runs: text<TAB>second text)."
)
@click.option("--batch-size", type=int, default=None)
@click.pass_context
@user_errors
def predict(ctx, run_dir, saved_model, texts, pairs, input_path, batch_size):
    """Classify texts with a trained run (or a SavedModel); prints one JSON object per line."""
    from keras_clx.errors import ClxError

    if bool(run_dir) == bool(saved_model):
        raise ClxError("give a RUN_DIR or --saved-model DIR/NAME/N (one of them)")
    if pairs and len(pairs) != len(texts):
        raise ClxError(f"--pair must be given once per --text ({len(texts)} texts, {len(pairs)} pairs)")
    load_frameworks()
    run = None
    if saved_model:
        from keras_clx.serving.client import saved_model_task

        is_pair = saved_model_task(saved_model) == "pair"
    else:
        from keras_clx import experiment

        run = experiment.load_run(run_dir)
        is_pair = run.recipe.data.task == "pair"
    if is_pair and texts and not pairs:
        raise ClxError("this model classifies sentence pairs: give --pair with every --text")
    if pairs and not is_pair:
        raise ClxError("--pair needs a sentence-pair model (data.task=pair)")
    numbered = _read_lines(input_path) if input_path else []
    lines = [line for _, line in numbered]
    second = list(pairs)
    if is_pair:
        second += [_split_pair(line, input_path, number) for number, line in numbered]
        lines = [line.split("\t", 1)[0] for line in lines]
    texts = list(texts) + lines
    if not texts:
        raise ClxError("nothing to predict: give --text or --input")
    if saved_model:
        from keras_clx.serving.client import predict_saved_model

        rows = predict_saved_model(saved_model, texts, batch_size=batch_size or 64, pairs=second if is_pair else None)
    else:
        rows = run.predict(texts, batch_size=batch_size, pairs=second if is_pair else None)
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False))


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Models' base directory: writes OUT/NAME/VERSION (TF Serving's layout).",
)
@click.option("--name", help="Model name (default: the run directory's name).")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=0),
    default=None,
    help="Version number (default: one more than the highest in OUT/NAME).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing version directory.")
@click.option(
    "--verify-input",
    type=click.Path(),
    help="Verify on these texts (one per line) instead of a sample of the run's data.",
)
@click.option(
    "--sample-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Texts of the run's data to verify on.",
)
@click.pass_context
@user_errors
def export(ctx, run_dir, out, name, version, overwrite, verify_input, sample_size):
    """Export a run as a SavedModel that takes raw strings (for TF Serving), and verify it."""
    load_frameworks()
    from keras_clx.serving.export import export_run

    texts = [line for _, line in _read_lines(verify_input)] if verify_input else None
    if texts is not None:  # a pair model verifies on text<TAB>second text lines
        texts = [tuple(t.split("\t", 1)) if "\t" in t else t for t in texts]
    result = export_run(
        run_dir,
        out,
        name=name,
        version=version,
        overwrite=overwrite,
        texts=texts,
        sample_size=sample_size,
        verbose=ctx.obj["verbose"],
    )
    click.echo(f"{result.path}  ({result.summary()})")


@main.command()
@click.argument("recipe", required=False)
@_overrides_option
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds (train.seed) of every variant.")
@click.option(
    "--vary",
    multiple=True,
    metavar="KEY=V1,V2",
    help="A recipe field and its values (repeatable; variants are all combinations, the first "
    "values are the baseline).",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="'NAME: KEY=V KEY=V'",
    help="A named variant (repeatable; the first is the baseline; combined with --vary).",
)
@click.option("--out", type=click.Path(file_okay=False), help="Study directory (default studies/<recipe>).")
@click.option("--data-dir", help="Where data sets live (default $CLX_DATA_DIR).")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    help="Only aggregate the finished cells of this study directory (no training).",
)
@click.option(
    "--bootstrap-samples",
    type=click.IntRange(min=100),
    default=1000,
    show_default=True,
    help="Samples of the paired bootstrap intervals.",
)
@click.pass_context
@user_errors
def study(ctx, recipe, overrides, seeds, vary, variants, out, data_dir, report_dir, bootstrap_samples):
    """Run RECIPE over seeds x variants and compare each variant with the baseline (writes OUT/study.*)."""
    from keras_clx.errors import ClxError
    from keras_clx.study_report import format_markdown, study_report

    if bool(recipe) == bool(report_dir):
        raise ClxError("give a RECIPE to run, or --report DIR to aggregate a study (one of them)")
    if report_dir:
        click.echo(format_markdown(study_report(report_dir, samples=bootstrap_samples)))
        return
    from keras_clx import recipes
    from keras_clx import study as studies

    overrides = [*overrides, *([f"data.data_dir={data_dir}"] if data_dir else [])]
    studies.make_plan(
        recipe, seeds, vary, overrides, check=False, variants=variants
    )  # recipe errors before Keras is imported
    load_frameworks()
    out = out or f"studies/{recipes.resolve_recipe_path(recipe).stem}"
    summary = studies.run_study(
        recipe, out, seeds, vary, overrides, verbose=ctx.obj["verbose"], samples=bootstrap_samples, variants=variants
    )
    click.echo(format_markdown(summary))


@main.command(name="recipes")
@user_errors
def list_recipes():
    """List the bundled recipes."""
    from keras_clx.recipes import list_recipes as bundled

    items = bundled()
    width = max(len(name) for name, _ in items)
    for name, description in items:
        click.echo(f"{name.ljust(width)}  {description}")


@main.command()
@click.argument("name", required=False)
@click.option("--data-dir", help="Destination (default $CLX_DATA_DIR or ~/.cache/keras_clx/data).")
@click.option("--url", help="Download from this URL instead of the registry's.")
@click.option("--force", is_flag=True, help="Download again even when complete.")
@user_errors
def download(name, data_dir, url, force):
    """Download a registered data set (no NAME: list the registry)."""
    from keras_clx.data import registry

    if not name:
        for info in map(registry.get_dataset, registry.list_datasets()):
            root = registry.dataset_dir(info.name, data_dir)
            state = "complete" if not registry.missing_files(info, root) else "missing files"
            click.echo(f"{info.name:12s} {state:14s} {info.description}")
        return
    path = registry.download(name, data_dir=data_dir, url=url, force=force)
    click.echo(str(path))


if __name__ == "__main__":
    main()
