"""Pretraining text per language: the recipe's corpus (with code-switched source copies) or
`lang=path` files, and a held-out split."""

import pathlib

import numpy as np

from keras_clx.data.code_switch import CodeSwitcher
from keras_clx.data.dictionaries import recipe_dictionaries
from keras_clx.data.readers import numbered_lines
from keras_clx.errors import DataError

SWITCHED = "{source}>switched"  # the name under which a source's code-switched copies are sampled


def corpus_texts(corpus):
    """`{language: texts}`: the sources' training text and the targets' unlabelled text."""
    texts = {}
    for example in corpus.train:
        texts.setdefault(example.language, []).append(example.text)
    for lang in corpus.targets:
        texts.setdefault(lang, []).extend(e.text for e in corpus.unlabeled(lang))
    return {lang: [t for t in items if t.strip()] for lang, items in texts.items()}


def recipe_texts(recipe, corpus):
    """`corpus_texts`, plus `model.pretrain.code_switch_copies` code-switched copies of each
    source training text (translation-language-model style mixing) under `<source>>switched`."""
    texts = corpus_texts(corpus)
    copies = recipe.model.pretrain.code_switch_copies
    if copies:
        config = recipe.train.code_switch
        dictionaries = recipe_dictionaries(config.dictionaries, corpus.targets, recipe.data.data_dir)
        switcher = CodeSwitcher.from_settings(config, dictionaries, recipe.train.seed)
        texts.update(switched_copies(texts, corpus.sources, switcher, copies))
    return texts


def switched_copies(texts, sources, switcher, copies):
    """`{"<source>>switched": texts}`: `copies` seeded code-switched versions of each source text."""
    return {
        SWITCHED.format(source=source): [switcher.switch_text(t, draw) for draw in range(copies) for t in texts[source]]
        for source in sources
        if texts.get(source)
    }


def parse_text_spec(spec):
    """`"es=path"` -> `("es", path)`; a bare path takes its file stem as the language."""
    lang, sep, path = spec.partition("=")
    if not sep:
        path, lang = spec, pathlib.Path(spec).stem
    if not lang.strip() or not path.strip():
        raise DataError(f"--text {spec!r} is not of the form LANG=PATH")
    return lang.strip(), pathlib.Path(path.strip())


def read_text_files(specs):
    """`{language: texts}` from `lang=path` files (one text per line; several files may share a language)."""
    texts = {}
    for spec in specs:
        lang, path = parse_text_spec(spec)
        lines = [line.strip() for _, line in numbered_lines(path) if line.strip()]
        if not lines:
            raise DataError("text file is empty", path=path)
        texts.setdefault(lang, []).extend(lines)
    return texts


def split_heldout(texts, fraction, maximum, seed):
    """`(train, heldout)`: per language, a seeded random `fraction` (at most `maximum`) held out."""
    train, heldout = {}, {}
    for i, (lang, items) in enumerate(sorted(texts.items())):
        order = np.random.default_rng([seed, i]).permutation(len(items))
        count = min(maximum, int(fraction * len(items))) if len(items) > 1 else 0
        heldout[lang] = [items[j] for j in order[:count]]
        train[lang] = [items[j] for j in order[count:]]
    return train, heldout
