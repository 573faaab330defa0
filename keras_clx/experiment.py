"""Runs a recipe end to end: corpus -> backbone -> classifier -> fit -> per-language report.

Run directory (written by `fit`):

    recipe.json         the resolved recipe (overrides applied)
    labels.json         the label vocabulary
    model.keras         the trained classifier (preprocessor included)
    training_log.csv    per-epoch losses and metrics
    report.md/.csv/.json  per-language scores and the target average
    metrics.json        the report plus timings, backend and versions
"""

import dataclasses
import json
import pathlib
import sys
import time

import keras

from keras_clx.data.datasets import load_corpus
from keras_clx.data.pipeline import paired_dataset
from keras_clx.data.records import Example, LabelVocabulary
from keras_clx.errors import ClxError
from keras_clx.evaluation.report import LanguageResult, Report
from keras_clx.models.backbones import build_backbone, initialize_tokenizer
from keras_clx.pretraining import pretrain_before_fit
from keras_clx.recipes import Recipe
from keras_clx.tasks import get_task
from keras_clx.training.distribution import DataParallel
from keras_clx.training.steps import TransferConfig

MODEL_FILE = "model.keras"


def log(message, verbose=1):
    """A one-line phase summary on stderr (silent when `verbose=0`)."""
    if verbose:
        print(f"[keras-clx] {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Run:
    """A trained (or loaded) run: its model, labels, recipe and directory."""

    recipe: Recipe
    model: keras.Model
    labels: LabelVocabulary
    directory: pathlib.Path = None
    report: Report = None
    history: dict = None
    self_training: object = None  # the `RoundHistory` of a self-training run

    @property
    def task(self):
        return get_task(self.recipe.data.task)

    def predict(self, texts, language="unknown", batch_size=None, verbose=0):
        """Predictions (dicts with label and probability) for raw `texts`."""
        examples = [Example(t, language, str(i)) for i, t in enumerate(texts)]
        batch_size = batch_size or self.recipe.eval.batch_size
        return self.task.predict(self.model, examples, self.labels, batch_size, verbose)


def default_run_dir(recipe_name):
    return pathlib.Path("runs") / f"{recipe_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(directory, overwrite=False):
    """Creates `directory`; refuses to reuse a run directory unless `overwrite`."""
    directory = pathlib.Path(directory)
    if (directory / MODEL_FILE).exists() and not overwrite:
        raise ClxError(f"{directory} already holds a run; choose another --out or pass --overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def vocabulary_texts(corpus):
    """Texts a from-scratch tokenizer learns from: source training text and target unlabelled text."""
    return [e.text for e in corpus.train] + [e.text for e in corpus.unlabeled()]


def build_model(recipe, corpus, verbose=1):
    """The backbone, preprocessor and classifier a recipe describes, compiled."""
    task = get_task(recipe.data.task)
    labels = task.labels(corpus)
    if recipe.train.dtype_policy:
        keras.config.set_dtype_policy(recipe.train.dtype_policy)
    backbone, preprocessor = build_backbone(
        recipe.model.backbone,
        texts=vocabulary_texts(corpus),
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


def compile_model(model, recipe, steps_per_epoch, **overrides):
    """AdamW with linear warm-up then cosine decay over the whole run.

    `overrides` replace `compile` arguments (self-training passes its per-round optimizer).
    """
    train = recipe.train
    total = max(1, steps_per_epoch * train.epochs)
    warmup = int(train.warmup_ratio * total)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else train.learning_rate,
        decay_steps=max(1, total - warmup),
        warmup_target=train.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    overrides.setdefault("optimizer", keras.optimizers.AdamW(schedule, weight_decay=train.weight_decay))
    overrides.setdefault("transfer", TransferConfig.from_recipe(train))
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
            metrics = task.score(model, examples, labels, recipe.eval.batch_size)
            rows.append(LanguageResult(lang, role, split, len(examples), metrics))
    report = Report(rows, task.metric_names, title=f"{recipe.description or corpus.name} ({split})")
    average = report.target_average().get(task.primary_metric)
    if average is not None:
        log(f"evaluated {len(rows)} languages on {split}: target average {task.primary_metric} "
            f"{100 * average:.2f}", verbose)
    return report


def fit(recipe, out_dir=None, overwrite=False, verbose=1, callbacks=(), resume=False):
    """Trains the recipe's model, evaluates every language and writes the run directory.

    Returns the `Run`. `verbose`: 0 silent, 1 progress bars and phase lines,
    2 one line per epoch. With `recipe.data.leave_one_out`, trains one model per
    target language (see `keras_clx.multisource`) and returns a `LeaveOneOutRun`.
    `resume`: continue the interrupted self-training run in `out_dir` (see
    `keras_clx.training.rounds`).
    """
    if recipe.data.leave_one_out:
        from keras_clx.multisource import fit_leave_one_out

        return fit_leave_one_out(recipe, out_dir or default_run_dir("run"), overwrite=overwrite,
                                 verbose=verbose, callbacks=callbacks, resume=resume)
    started = time.time()
    keras.utils.set_random_seed(recipe.train.seed)
    self_training = recipe.train.self_training.enabled
    if self_training or resume:
        from keras_clx.training import rounds

        rounds.check_run_dir(out_dir, recipe, resume=resume, overwrite=overwrite)
    distribution = DataParallel(recipe.train.distribution, recipe.train.batch_size)
    directory = prepare_run_dir(out_dir or default_run_dir("run"), overwrite)
    recipe.to_json(directory / "recipe.json")
    if distribution.enabled:
        log(f"distribution: {distribution.describe()}", verbose)
    with distribution.scope():
        return _fit(recipe, directory, distribution, started, resume, verbose, callbacks)


def _fit(recipe, directory, distribution, started, resume, verbose, callbacks):
    """The body of `fit`, inside the distribution scope."""
    self_training = recipe.train.self_training.enabled
    if self_training:
        from keras_clx.training import rounds
    corpus = load_corpus(recipe.data, seed=recipe.train.seed)
    log(
        f"data: {corpus.name}, {len(corpus.train):,} training examples from "
        f"{'+'.join(corpus.sources)}, targets {', '.join(corpus.targets)}",
        verbose,
    )
    recipe = pretrain_before_fit(recipe, corpus, directory, verbose)  # model.pretrain.enabled
    model, labels = build_model(recipe, corpus, verbose)
    (directory / "labels.json").write_text(json.dumps(labels.to_json(), indent=2) + "\n")

    task = get_task(recipe.data.task)
    batch = recipe.train.batch_size
    train_ds = task.dataset(corpus.train, labels, model.preprocessor, batch, shuffle=True,
                            seed=recipe.train.seed)
    dev_ds = task.dataset(corpus.dev, labels, model.preprocessor, recipe.eval.batch_size) if corpus.dev else None
    steps = -(-len(corpus.train) // batch)
    epochs, initial_epoch, plan = recipe.train.epochs, 0, None
    if self_training:  # rounds grow the training data; the monitored dev set is the recipe's choice
        plan = rounds.setup(recipe, corpus, model, labels, directory, resume=resume, verbose=verbose)
        train_ds, dev_ds, epochs, initial_epoch = plan.train, plan.validation, plan.epochs, plan.initial_epoch
        callbacks = [plan.callback, *callbacks]
    transfer = TransferConfig.from_recipe(recipe.train)
    if transfer.weighting != "none" or (transfer.uses_target_batches and corpus.unlabeled()):
        train_ds = paired_dataset(train_ds, corpus.unlabeled(), model.preprocessor, batch, seed=recipe.train.seed)
    if not transfer.is_vanilla:
        log(f"transfer step: {transfer.describe()}", verbose)
    train_ds = distribution.cast_masks(train_ds)
    dev_ds = distribution.cast_masks(dev_ds) if dev_ds is not None else None
    compile_model(model, recipe, steps, **(plan.compile_kwargs if plan else {}))
    fit_started = time.time()
    history = model.fit(
        train_ds,
        validation_data=dev_ds,
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=min(verbose, 2),
        callbacks=[keras.callbacks.CSVLogger(str(directory / "training_log.csv"), append=resume), *callbacks],
    )
    fit_seconds = time.time() - fit_started
    trained = len(history.epoch)
    log(f"trained {trained} epochs ({steps} steps each{' in round 0' if plan else ''}) in {fit_seconds:.1f} s",
        verbose)
    model.save(directory / MODEL_FILE)

    report = evaluate(model, corpus, labels, recipe, verbose=verbose)
    report.write(directory)
    if plan:
        with open(directory / "report.md", "a") as f:
            f.write("\n" + plan.callback.history.to_markdown(labels.names))
    summary = {
        **report.to_dict(),
        **({"self_training": plan.callback.history.to_dict()} if plan else {}),
        "backend": keras.backend.backend(),
        "versions": {"keras": keras.__version__, "keras_clx": _version()},
        "fit_seconds": round(fit_seconds, 2),
        "total_seconds": round(time.time() - started, 2),
    }
    (directory / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"run written to {directory}", verbose)
    return Run(recipe, model, labels, directory, report, history.history,
               plan.callback.history if plan else None)


def _version():
    from keras_clx import __version__

    return __version__


def load_run(directory):
    """Loads a run directory written by `fit` (model, labels, recipe)."""
    directory = pathlib.Path(directory)
    from keras_clx import multisource

    if multisource.is_leave_one_out_dir(directory):
        subs = ", ".join(str(d) for d in multisource.sub_run_dirs(directory))
        raise ClxError(f"{directory} is a leave-one-out run; use one of its sub-runs: {subs}")
    for name in ("recipe.json", "labels.json", MODEL_FILE):
        if not (directory / name).is_file():
            raise ClxError(f"{directory} is not a complete run directory: {name} is missing")
    recipe = Recipe.from_json(directory / "recipe.json")
    labels = LabelVocabulary.from_json(json.loads((directory / "labels.json").read_text()))
    import keras_clx.models  # noqa: F401  (registers the classifiers for deserialization)

    model = keras.saving.load_model(directory / MODEL_FILE, compile=False)
    if model.preprocessor is not None:
        initialize_tokenizer(model.preprocessor)
    return Run(recipe, model, labels, directory)
