"""Runs a recipe end to end: corpus -> backbone -> classifier -> fit -> per-language report.

Writes a run directory (its layout: `keras_clx.run_dir`). Leave-one-out recipes
train several of these (`keras_clx.multisource`); `keras_clx.runs.fit` picks.
"""

import contextlib
import dataclasses
import json
import pathlib
import time

import keras

from keras_clx import __version__, code_switch_setup, fit_setup, run_dir, self_training_setup
from keras_clx.console import log
from keras_clx.data.datasets import load_corpus
from keras_clx.data.pipeline import paired_dataset
from keras_clx.data.records import Example, LabelVocabulary
from keras_clx.errors import ClxError
from keras_clx.evaluation.report import LanguageResult, Report
from keras_clx.models.backbones import build_backbone, initialize_tokenizer
from keras_clx.pretraining import pretrain_before_fit
from keras_clx.recipes import Recipe
from keras_clx.tasks import get_task
from keras_clx.training import processes
from keras_clx.training.distribution import DataParallel
from keras_clx.training.divergence import DivergenceGuard
from keras_clx.training.epoch_eval import plot_curves
from keras_clx.training.guard_rails import TransferGuard
from keras_clx.training.optimization import build_optimizer
from keras_clx.training.round_history import RoundHistory
from keras_clx.training.steps import TransferConfig

MODEL_FILE = run_dir.MODEL


@dataclasses.dataclass
class Run:
    """A trained (or loaded) run: its model, labels, recipe and directory."""

    recipe: Recipe
    model: keras.Model
    labels: LabelVocabulary
    directory: pathlib.Path = None
    report: Report = None
    history: dict = None
    rounds: RoundHistory = None  # the rounds of a self-training run

    @property
    def task(self):
        return get_task(self.recipe.data.task)

    def predict(self, texts, language="unknown", batch_size=None, verbose=0, pairs=None):
        """Predictions (dicts with label and probability) for raw `texts` (with `pairs`: sentence pairs)."""
        pairs = [None] * len(texts) if pairs is None else list(pairs)
        examples = [Example(t, language, str(i), text_pair=p) for i, (t, p) in enumerate(zip(texts, pairs))]
        batch_size = batch_size or self.recipe.eval.batch_size
        return self.task.predict(self.model, examples, self.labels, batch_size, verbose)


def vocabulary_texts(corpus):
    """Texts a from-scratch tokenizer learns from: source training text and target unlabelled text."""
    examples = corpus.train + corpus.unlabeled()
    return [e.text for e in examples] + [e.text_pair for e in examples if e.text_pair is not None]


def build_model(recipe, corpus, verbose=1):
    """The backbone, preprocessor and classifier a recipe describes, compiled."""
    task = get_task(recipe.data.task)
    labels = task.labels(corpus)
    if recipe.train.dtype_policy:  # process-wide: `fit` restores the previous policy (`dtype_policy`)
        keras.config.set_dtype_policy(recipe.train.dtype_policy)
    backbone, preprocessor = build_backbone(
        recipe.model.backbone,
        texts=vocabulary_texts(corpus) + code_switch_setup.vocabulary_texts(recipe, corpus),
        sequence_length=recipe.model.sequence_length,
        vocabulary_size=recipe.model.vocabulary_size,
    )
    model = task.build_model(backbone, preprocessor, labels, recipe.model)
    log(
        f"model: {recipe.model.backbone} ({type(backbone).__name__}, "
        f"{backbone.count_params():,} parameters, vocabulary {preprocessor.tokenizer.vocabulary_size():,}), "
        f"{len(labels)} labels",
        verbose,
    )
    return model, labels


@contextlib.contextmanager
def dtype_policy():
    """Restores Keras's global dtype policy on exit (`build_model` sets the recipe's)."""
    saved = keras.config.dtype_policy()
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)


def compile_model(model, recipe, steps_per_epoch, **overrides):
    """AdamW on `train.lr_schedule` over the whole run, with `train.clip_norm` and
    `train.accumulation_steps` (`keras_clx.training.optimization`), and `train.label_smoothing`.

    `overrides` replace `compile` arguments (self-training passes its per-round optimizer).
    """
    train = recipe.train
    overrides.setdefault("optimizer", build_optimizer(train, steps_per_epoch * train.epochs))
    overrides.setdefault("transfer", TransferConfig.from_recipe(train))
    if train.label_smoothing and "loss" not in overrides:
        overrides["label_smoothing"] = train.label_smoothing
    model.compile(jit_compile=train.jit_compile, **overrides)


def evaluate(model, corpus, labels, recipe, split=None, verbose=1):
    """Scores every source and target language on `split` (default: the recipe's)."""
    task = get_task(recipe.data.task)
    split = split or recipe.eval.split
    rows = []
    for role, languages in (("source", corpus.sources), ("target", corpus.targets)):
        for lang in languages:
            examples = getattr(corpus.languages[lang], split)
            if not examples:
                continue
            metrics, outcomes = task.score_outcomes(model, examples, labels, recipe.eval.batch_size)
            rows.append(LanguageResult(lang, role, split, len(examples), metrics, outcomes))
    report = Report(rows, task.metric_names, title=f"{recipe.description or corpus.name} ({split})")
    average = report.target_average().get(task.primary_metric)
    if average is not None:
        log(
            f"evaluated {len(rows)} languages on {split}: target average {task.primary_metric} {100 * average:.2f}",
            verbose,
        )
    return report


def fit(recipe, out_dir=None, overwrite=False, verbose=1, callbacks=(), resume=False):
    """Trains the recipe's model, evaluates every language and writes the run directory.

    Returns the `Run`. `verbose`: 0 silent, 1 progress bars and phase lines,
    2 one line per epoch. `resume`: continue the interrupted run in `out_dir` from its
    last checkpoint (self-training: its last completed round), to the same final
    weights as an uninterrupted run. Leave-one-out recipes go through `keras_clx.runs.fit`.

    Several processes (`keras_clx.training.processes`, from the environment) train one
    run: process 0 writes `out_dir` and prints; the others train silently beside it.
    """
    if recipe.data.leave_one_out:
        raise ClxError("data.leave_one_out trains several runs: use keras_clx.fit (keras_clx.runs.fit)")
    where = processes.initialize(keras.backend.backend(), recipe.train.distribution)
    verbose = verbose if where.is_writer else 0
    started = time.time()
    keras.utils.set_random_seed(recipe.train.seed)
    if recipe.train.self_training.enabled:
        self_training_setup.check_recipe(recipe)
    directory = pathlib.Path(out_dir or run_dir.default_run_dir("run"))
    run_dir.check_run_dir(directory, recipe, resume=resume, overwrite=overwrite, writer=where.is_writer)
    distribution = DataParallel(recipe.train.distribution, recipe.train.batch_size)
    if distribution.enabled:
        log(f"distribution: {distribution.describe()}", verbose)
    staging = run_dir.staged(
        directory, resume=resume, writer=where.is_writer, ready=lambda: processes.barrier("run directory")
    )
    with staging as staging, dtype_policy(), distribution.scope():
        recipe.to_json(staging.recipe)
        run = _fit(recipe, staging, distribution, started, resume, verbose, callbacks)
    processes.barrier("run written")  # the others end once process 0 has published the run
    run.directory = directory
    log(f"run written to {directory}", verbose)
    return run


def _fit(recipe, directory, distribution, started, resume, verbose, callbacks):
    """The body of `fit`, inside the distribution scope; `directory` is a `RunDir`."""
    corpus = load_corpus(recipe.data, seed=recipe.train.seed)
    log(
        f"data: {corpus.name}, {len(corpus.train):,} training examples from "
        f"{'+'.join(corpus.sources)}, targets {', '.join(corpus.targets)}",
        verbose,
    )
    tuned = pretrain_before_fit(recipe, corpus, directory, verbose)  # model.pretrain: backbone = the new preset
    model, labels = build_model(tuned, corpus, verbose)
    directory.labels.write_text(json.dumps(labels.to_json(), indent=2) + "\n")

    task = get_task(recipe.data.task)
    batch = recipe.train.batch_size
    dev_ds = task.dataset(corpus.dev, labels, model.preprocessor, recipe.eval.batch_size) if corpus.dev else None
    steps = -(-len(corpus.train) // batch)
    epochs, initial_epoch, plan, steps_per_epoch = recipe.train.epochs, 0, None, steps
    position = fit_setup.Position()
    if recipe.train.self_training.enabled:  # rounds grow the training data; the monitored dev set is the recipe's
        plan = self_training_setup.setup(recipe, corpus, model, labels, directory.path, steps, resume, verbose)
        train_ds, dev_ds, epochs, initial_epoch = plan.train, plan.validation, plan.epochs, plan.initial_epoch
        steps_per_epoch = None
    compile_model(model, recipe, steps, **(plan.compile_kwargs if plan else {}))
    if plan is None:  # every epoch in the order of (seed, epoch), from the checkpoint's position on resume
        position = fit_setup.restore(directory.path, model, steps) if resume else position
        initial_epoch = position.epoch
        if position.resumed:
            log(f"resumed from the checkpoint at epoch {position.epoch + 1}, step {position.step} of {steps}", verbose)
        train_ds = fit_setup.training_stream(
            task,
            corpus,
            labels,
            model,
            recipe,
            position,
            code_switch_setup.training_preprocessor(recipe, corpus, model),
        )
    train_ds = code_switch_setup.switch_training_data(recipe, corpus, labels, model, train_ds, plan)
    transfer = TransferConfig.from_recipe(recipe.train)
    if transfer.weighting != "none" or (transfer.uses_target_batches and corpus.unlabeled()):
        train_ds = paired_dataset(
            train_ds,
            corpus.unlabeled(),
            model.preprocessor,
            batch,
            seed=recipe.train.seed,
            skip_batches=position.epoch * steps + position.step,
        )
    if not transfer.is_vanilla:
        log(f"transfer step: {transfer.describe()}", verbose)
    train_ds = distribution.cast_masks(train_ds)
    dev_ds = distribution.cast_masks(dev_ds) if dev_ds is not None else None
    if resume:  # epochs logged after the last checkpoint (saved round) are trained again
        run_dir.trim_training_log(directory.training_log, initial_epoch)
    first, last, best = fit_setup.callbacks(
        recipe, task, corpus, labels, directory, steps, position, plan.callback if plan else None, verbose
    )
    fit_started = time.time()
    history = model.fit(
        train_ds,
        validation_data=dev_ds,
        epochs=epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the data comes in the order of (seed, epoch) already
        verbose=min(verbose, 2),
        callbacks=[
            *([plan.callback] if plan else []),
            *first,
            TransferGuard(verbose=verbose),
            keras.callbacks.CSVLogger(str(directory.training_log), append=resume),
            DivergenceGuard.from_recipe(recipe),
            *callbacks,
            *last,
        ],
    )
    fit_seconds = time.time() - fit_started
    trained = len(history.epoch)
    log(f"trained {trained} epochs ({steps} steps each{' in round 0' if plan else ''}) in {fit_seconds:.1f} s", verbose)
    model.save(directory.model)
    if recipe.train.epoch_eval:
        plot_curves(
            directory.training_log,
            directory.curves,
            task.primary_metric,
            title=f"{recipe.description or corpus.name}: dev {task.primary_metric} per language",
        )

    report = evaluate(model, corpus, labels, recipe, verbose=verbose)
    code_switch_setup.add_challenge_rows(report, model, corpus, labels, recipe, directory.path, verbose)
    report.write(directory.path, stem=run_dir.REPORT)
    if plan:
        with open(directory.report(".md"), "a") as f:
            f.write("\n" + plan.callback.history.to_markdown(labels.names))
    summary = {
        **report.to_dict(),
        **({"self_training": plan.callback.history.to_dict()} if plan else {}),
        **({"model_selection": best.summary()} if best is not None else {}),
        "backend": keras.backend.backend(),
        "versions": {"keras": keras.__version__, "keras_clx": __version__},
        "fit_seconds": round(fit_seconds, 2),
        "total_seconds": round(time.time() - started, 2),
    }
    directory.metrics.write_text(json.dumps(summary, indent=2) + "\n")
    return Run(recipe, model, labels, directory.path, report, history.history, plan.callback.history if plan else None)


def load_run(directory):
    """Loads a run directory written by `fit` (model, labels, recipe).

    Every file it reads is checked: a missing or broken one is a one-line `ClxError` naming it.
    """
    run = run_dir.RunDir(directory)
    if run.is_leave_one_out:
        subs = ", ".join(str(d) for d in run.sub_runs())
        raise ClxError(f"{directory} is a leave-one-out run; use one of its sub-runs: {subs}")
    for path in (run.recipe, run.labels, run.model):
        if not path.is_file():
            raise ClxError(f"{directory} is not a complete run directory: {path.name} is missing")
    recipe = _read(run.recipe, "the run's recipe", lambda p: Recipe.from_dict(run_dir.read_json(p, "recipe")))
    labels = _read(
        run.labels,
        "the label vocabulary",
        lambda p: LabelVocabulary.from_json(run_dir.read_json(p, "label vocabulary")),
    )
    import keras_clx.models  # noqa: F401  (registers the classifiers for deserialization)

    model = _read(run.model, "the trained model", lambda p: keras.saving.load_model(p, compile=False))
    if model.preprocessor is not None:
        initialize_tokenizer(model.preprocessor)
    return Run(recipe, model, labels, run.path)


def _read(path, what, load):
    """`load(path)`, with any failure as a one-line `ClxError` naming `path`."""
    try:
        return load(path)
    except ClxError:
        raise
    except Exception as error:  # noqa: BLE001  (a corrupt file fails in many ways)
        message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ClxError(f"{path} is corrupt ({what}: {type(error).__name__}: {message})") from None
