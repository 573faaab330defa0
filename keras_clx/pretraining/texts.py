"""Pretraining text per language: the recipe's corpus or `lang=path` files, and a held-out split."""

import pathlib

import numpy as np

from keras_clx.errors import DataError


def corpus_texts(corpus):
    """`{language: texts}`: the sources' training text and the targets' unlabelled text."""
    texts = {}
    for example in corpus.train:
        texts.setdefault(example.language, []).append(example.text)
    for lang in corpus.targets:
        texts.setdefault(lang, []).extend(e.text for e in corpus.unlabeled(lang))
    return {lang: [t for t in items if t.strip()] for lang, items in texts.items()}


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
        try:
            with open(path, encoding="utf-8") as f:
                lines = [line.strip() for line in f if line.strip()]
        except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
            raise DataError(f"cannot read text file ({type(error).__name__})", path=path) from None
        except UnicodeDecodeError as error:
            raise DataError(f"not valid UTF-8 ({error.reason} at byte {error.start})", path=path) from None
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
