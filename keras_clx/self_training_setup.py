"""A recipe's `train.self_training` turned into the callback, datasets and compile settings of a run."""

import dataclasses

from keras_clx import run_dir
from keras_clx.errors import RecipeError
from keras_clx.tasks import get_task
from keras_clx.training.optimization import optimizer_options
from keras_clx.training.round_schedule import round_optimizer
from keras_clx.training.selection import LabelAccuracy, SoftLabelCrossentropy
from keras_clx.training.self_training import SelfTrainingCallback, SelfTrainingSettings


@dataclasses.dataclass
class SelfTrainingSetup:
    """What `experiment.fit` needs for a self-training run."""

    callback: SelfTrainingCallback
    train: object  # the growing tf.data.Dataset
    validation: object
    epochs: int
    initial_epoch: int
    compile_kwargs: dict


def check_recipe(recipe):
    """Refuses, before any data is loaded, what self-training cannot do."""
    config, train = recipe.train.self_training, recipe.train
    if recipe.data.task not in ("sequence", "pair"):
        raise RecipeError("train.self_training supports sequence classification (data.task=sequence or pair) only")
    if config.soft_labels and (train.perturbation != "none" or train.instance_weighting != "none"):
        raise RecipeError(
            "train.self_training.soft_labels needs Keras's own train step; the transfer step's loss "
            "takes label ids (set train.perturbation and train.instance_weighting to none, or "
            "soft_labels=false)"
        )
    if config.monitor not in ("target_dev", "source_dev"):
        raise RecipeError(f"train.self_training.monitor must be target_dev or source_dev, got {config.monitor!r}")


def _monitored_dev(config, corpus):
    if config.monitor == "target_dev":
        dev = [e for lang in corpus.targets for e in corpus.languages[lang].dev]
        description = f"target-language dev ({', '.join(corpus.targets)}; {len(dev):,} examples)"
    else:
        dev = corpus.dev
        description = f"source dev ({', '.join(corpus.sources)}; {len(dev):,} examples; strict zero-shot)"
    if not dev:
        raise RecipeError(f"train.self_training.monitor={config.monitor}: that dev data is empty")
    return dev, description


def setup(recipe, corpus, model, labels, directory, steps_per_epoch, resume=False, verbose=1):
    """The callback, datasets and compile settings for `recipe.train.self_training`.

    The pool is every target language's unlabelled text (balanced per language);
    gold labels that the corpus keeps for it go into a side mapping used only to
    report pseudo-label accuracy. `monitor`: `target_dev` (as the paper: the
    targets' labelled dev sets) or `source_dev` (strict zero-shot). The state
    lives in `directory/self_training/`.
    """
    check_recipe(recipe)
    config, train = recipe.train.self_training, recipe.train
    dev, description = _monitored_dev(config, corpus)
    pool = corpus.unlabeled()
    if not pool:
        raise RecipeError("self-training needs unlabelled target text; the corpus has none")
    gold = {
        e.id: e.label
        for lang in corpus.targets
        for e in corpus.languages[lang].unlabeled
        if e.label is not None and e.label in labels
    }
    options = optimizer_options(train)
    optimizer, schedule = round_optimizer(
        train.learning_rate,
        train.warmup_ratio,
        options.pop("weight_decay"),
        round_steps=steps_per_epoch * train.epochs,
        **options,
    )
    settings = SelfTrainingSettings(
        k_per_class=config.k_per_class,
        epochs_per_round=config.epochs_per_round,
        max_rounds=config.max_rounds,
        patience=config.patience,
        monitor="val_accuracy",
        initial_epochs=train.epochs,
        threshold=config.threshold,
        reinitialize=config.reinitialize,
        soft_labels=config.soft_labels,
        prediction_batch_size=recipe.eval.batch_size,
        seed=train.seed,
    )
    callback = SelfTrainingCallback(
        pool,
        settings,
        label_names=labels.names,
        gold_labels=gold,
        monitor_description=description,
        schedule=schedule,
        directory=run_dir.RunDir(directory).self_training,
        verbose=verbose,
    )
    if resume:
        callback.restore()
    train_ds = callback.training_data(
        [e.inputs for e in corpus.train], labels.encode(corpus.train), train.batch_size, preprocessor=model.preprocessor
    )
    validation = get_task(recipe.data.task).dataset(dev, labels, model.preprocessor, recipe.eval.batch_size)
    compile_kwargs = {"optimizer": optimizer}
    if config.soft_labels:
        compile_kwargs.update(loss=SoftLabelCrossentropy(from_logits=True), metrics=[LabelAccuracy()])
    return SelfTrainingSetup(callback, train_ds, validation, callback.epochs, callback.initial_epoch, compile_kwargs)
