"""Code-switching from a recipe: the dictionaries, the switched training data, the
vocabulary texts of a from-scratch tokenizer and the challenge-set rows of the report
(the mechanics are in `keras_clx/data/code_switch.py`)."""

import pathlib

from keras_clx.console import log
from keras_clx.data.code_switch import (
    CodeSwitcher,
    SwitchingPreprocessor,
    challenge_set,
    read_challenge_set,
    token_switch_dataset,
    write_challenge_set,
)
from keras_clx.data.dictionaries import recipe_dictionaries
from keras_clx.evaluation.report import LanguageResult
from keras_clx.tasks import get_task

TOKEN_TASKS = ("token", "tagging")


def dictionaries_for(recipe, corpus, spec=None):
    """The recipe's dictionaries (`{lang: path or "muse"}`; empty: MUSE for every target)."""
    return recipe_dictionaries(spec or recipe.train.code_switch.dictionaries, corpus.targets, recipe.data.data_dir)


def training_switcher(recipe, corpus):
    """The `CodeSwitcher` of `train.code_switch`, or None when it is off."""
    config = recipe.train.code_switch
    if not config.enabled:
        return None
    return CodeSwitcher.from_settings(config, dictionaries_for(recipe, corpus), recipe.train.seed)


def vocabulary_texts(recipe, corpus, draws=2):
    """Switched source training texts for a from-scratch tokenizer to learn (none when off)."""
    switcher = training_switcher(recipe, corpus)
    if switcher is None:
        return []
    return [switcher.switch_text(e.text, draw) for draw in range(draws) for e in corpus.train]


def training_preprocessor(recipe, corpus, model):
    """What sequence-task training batches go through: the model's preprocessor, or (with
    `train.code_switch`) one that switches the source texts of every batch afresh."""
    switcher = training_switcher(recipe, corpus)
    if switcher is None or recipe.data.task in TOKEN_TASKS:
        return model.preprocessor
    return SwitchingPreprocessor(
        model.preprocessor,
        switcher,
        [e.text for e in corpus.train],
        keep_original=recipe.train.code_switch.keep_original,
    )


def switch_training_data(recipe, corpus, labels, model, train_ds, plan=None):
    """`train_ds` with code-switching applied where the batches are not already switched by
    `training_preprocessor`: token tasks (re-switched and re-encoded every epoch; a resumed
    run restarts their epoch order) and self-training's growing dataset."""
    switcher = training_switcher(recipe, corpus)
    if switcher is None:
        return train_ds
    config, train = recipe.train.code_switch, recipe.train
    task = get_task(recipe.data.task)
    if recipe.data.task in TOKEN_TASKS:
        return token_switch_dataset(
            corpus.train,
            task.tags(labels),
            model.preprocessor,
            train.batch_size,
            switcher,
            seed=train.seed,
            keep_original=config.keep_original,
        ).repeat()
    if plan is not None:  # self-training serves its own growing dataset: map it with the wrapper
        return plan.callback.training_data(
            [e.text for e in corpus.train],
            labels.encode(corpus.train),
            train.batch_size,
            preprocessor=training_preprocessor(recipe, corpus, model),
        )
    return train_ds


def build_challenge_sets(recipe, corpus, directory, split=None):
    """`{"en>es": [Example], ...}`: each source's `split` set switched into each target.

    Files `<directory>/challenge/<src>-<tgt>.<split>.rate<r>.seed<s>.jsonl` are read
    back when present (a rerun or another run pointed at them reuses the same set).
    """
    config = recipe.eval.code_switched
    split = split or recipe.eval.split
    dictionaries = dictionaries_for(recipe, corpus, config.dictionaries or recipe.train.code_switch.dictionaries)
    folder = pathlib.Path(directory) / "challenge"
    folder.mkdir(parents=True, exist_ok=True)
    switcher = CodeSwitcher(dictionaries, config.rate, seed=config.seed)
    sets = {}
    for source in corpus.sources:
        examples = getattr(corpus.languages[source], split)
        for target in corpus.targets:
            if target not in dictionaries or not examples:
                continue
            path = folder / f"{source}-{target}.{split}.rate{config.rate:g}.seed{config.seed}.jsonl"
            if path.is_file():
                sets[f"{source}>{target}"] = read_challenge_set(path)
                continue
            switched = challenge_set(examples, switcher, target, config.seed)
            write_challenge_set(path, switched)
            sets[f"{source}>{target}"] = switched
    return sets


def add_challenge_rows(report, model, corpus, labels, recipe, directory, verbose=1, split=None):
    """Appends one `challenge` row per code-switched set of `split` to `report` (no-op when off)."""
    if not recipe.eval.code_switched.enabled:
        return report
    task = get_task(recipe.data.task)
    split = split or recipe.eval.split
    for name, examples in build_challenge_sets(recipe, corpus, directory, split).items():
        metrics, outcomes = task.score_outcomes(model, examples, labels, recipe.eval.batch_size)
        report.rows.append(LanguageResult(name, "challenge", split, len(examples), metrics, outcomes))
        log(f"challenge {name}: {task.primary_metric} {100 * metrics[task.primary_metric]:.2f}", verbose)
    return report
