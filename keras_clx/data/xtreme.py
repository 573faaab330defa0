"""Dataset loaders for XTREME-style tasks: `xnli`, `pawsx` (pairs), `panx`, `conll` (tagging).

| dataset | files | `data.options` |
|---|---|---|
| `xnli` | `xnli/{train,dev,test}-<lang>.tsv` (XTREME); dev/test also from the official `xnli.{dev,test}.tsv` | `folder`, `dev_fraction` |
| `pawsx` | `pawsx/{train,dev,test}-<lang>.tsv`; with no train file (the shared dev-only copy) every dev file is split | `folder`, `train_fraction`, `dev_fraction` |
| `panx` | `panx/{train,dev,test}-<lang>.tsv` (XTREME: `word<TAB>tag`, `lang:` prefixes stripped) | `folder`, `word_column`, `tag_column`, `dev_fraction` |
| `conll` | `files: {lang: {split: path}}` under the data directory | `scheme` (`iob` / `tags`), `word_column`, `tag_column` |

`folder` reads another folder under the data directory (`pawsx_dev` for the
shared dev-only copy). Target languages give their train split (labels dropped) as unlabelled text where
there is one, else their dev split's.
"""

import random

from keras_clx.data import languages
from keras_clx.data.conll import read_conll
from keras_clx.data.corpus import LanguageData
from keras_clx.data.pairs import read_pawsx, read_xnli
from keras_clx.data.registry import data_dir, dataset_dir, require_file
from keras_clx.errors import ClxError

XNLI_LANGUAGES = languages.XNLI
PAWSX_LANGUAGES = languages.PAWSX


def _split(examples, fraction, seed):
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    n = max(1, int(round(fraction * len(shuffled))))
    return shuffled[n:], shuffled[:n]


def _assemble(config, read, has, seed, dev_fraction):
    """`LanguageData` per language from `read(lang, split)` / `has(lang, split)`."""
    languages = {}
    for lang in config.sources + config.targets:
        dev = read(lang, "dev") if has(lang, "dev") else []
        train = read(lang, "train") if has(lang, "train") else []
        if lang in config.sources:
            if not train:
                train = read(lang, "train")  # raises the missing-file error
            if not dev:
                train, dev = _split(train, dev_fraction, seed)
            test = read(lang, "test") if has(lang, "test") else []
            languages[lang] = LanguageData(train=train, dev=dev, test=test)
        else:
            languages[lang] = LanguageData(dev=dev, test=read(lang, "test"), unlabeled=train or dev)
    return languages


def _files(name, config, reader, options=None):

    folder = (options or {}).get("folder")  # another folder under the data directory
    root = data_dir(config.data_dir) / folder if folder else dataset_dir(name, config.data_dir)

    def path(lang, split):
        return root / f"{split}-{lang}.tsv"

    def read(lang, split):
        return reader(require_file(path(lang, split)), lang)

    return root, path, read


def load_xnli(config, options, seed):
    root, path, read_xtreme = _files("xnli", config, read_xnli, options)
    for lang in config.sources + config.targets:
        if lang not in XNLI_LANGUAGES:
            raise ClxError(f"XNLI has no language {lang!r}; languages: {list(XNLI_LANGUAGES)}")

    def read(lang, split):
        official = root / f"xnli.{split}.tsv"
        if split != "train" and not path(lang, split).is_file() and official.is_file():
            return read_xnli(official, lang)
        return read_xtreme(lang, split)

    def has(lang, split):
        return path(lang, split).is_file() or (split != "train" and (root / f"xnli.{split}.tsv").is_file())

    return _assemble(config, read, has, seed, options.get("dev_fraction", 0.02))


def load_pawsx(config, options, seed):
    """PAWS-X. Without a train file (the shared dev-only copy), every language's dev
    file is split: `train_fraction` of the source's trains (its `dev_fraction` of that
    is the dev set), and the held-out rest of every language is its test set."""
    root, path, read = _files("pawsx", config, read_pawsx, options)
    for lang in config.sources + config.targets:
        if lang not in PAWSX_LANGUAGES:
            raise ClxError(f"PAWS-X has no language {lang!r}; languages: {list(PAWSX_LANGUAGES)}")
    dev_fraction = options.get("dev_fraction", 0.1)
    if any(path(lang, "train").is_file() for lang in config.sources):
        return _assemble(config, read, lambda lang, split: path(lang, split).is_file(), seed, dev_fraction)
    fraction = options.get("train_fraction", 0.5)
    languages = {}
    for lang in config.sources + config.targets:
        rest, held_out = _split(read(lang, "dev"), 1.0 - fraction, seed)  # held_out: the test part
        if lang in config.sources:
            train, dev = _split(rest, dev_fraction, seed)
            languages[lang] = LanguageData(train=train, dev=dev, test=held_out)
        else:
            languages[lang] = LanguageData(test=held_out, unlabeled=rest)
    return languages


def _conll_reader(options, scheme):
    columns = dict(word_column=options.get("word_column", 0), tag_column=options.get("tag_column", -1))
    return lambda path, lang: read_conll(path, lang, scheme=scheme, **columns)


def load_panx(config, options, seed):
    """PAN-X (WikiANN) NER in XTREME's layout; data.task must be `token`."""
    if config.task != "token":
        raise ClxError(f"dataset 'panx' is NER: set data.task=token (got {config.task!r})")
    _, path, read = _files("panx", config, _conll_reader(options, "iob"), options)
    return _assemble(
        config, read, lambda lang, split: path(lang, split).is_file(), seed, options.get("dev_fraction", 0.1)
    )


def load_conll(config, options, seed):
    """Any CoNLL-style files: `data.options.files = {lang: {split: path}}`; `scheme`
    follows `data.task` (`token`: IOB entities, `tagging`: plain tags)."""
    import os
    import pathlib

    files = options.get("files")
    if not isinstance(files, dict) or not files:
        raise ClxError("dataset 'conll' needs data.options.files = {language: {split: path}}")
    if config.task not in ("token", "tagging"):
        raise ClxError(f"dataset 'conll' is for data.task=token or tagging, got {config.task!r}")
    reader = _conll_reader(options, options.get("scheme", "iob" if config.task == "token" else "tags"))
    root = pathlib.Path(config.data_dir or os.environ.get("CLX_DATA_DIR", "."))
    for lang, splits in files.items():
        unknown = set(splits) - {"train", "dev", "test"}
        if unknown:
            raise ClxError(f"data.options.files.{lang}: unknown split(s) {sorted(unknown)} (train, dev, test)")

    def read(lang, split):
        if lang not in files or split not in files[lang]:
            raise ClxError(f"data.options.files has no {split!r} file for language {lang!r}")
        return reader(require_file(root / files[lang][split]), lang)

    def has(lang, split):
        return split in files.get(lang, {})

    return _assemble(config, read, has, seed, options.get("dev_fraction", 0.1))


LOADERS = {"xnli": load_xnli, "pawsx": load_pawsx, "panx": load_panx, "conll": load_conll}


def register(loaders):
    """Adds this module's loaders to `datasets.LOADERS`."""
    loaders.update(LOADERS)
