"""Dataset loaders: a recipe's `data` section -> a validated `CrossLingualCorpus`.

| dataset | files under the data directory | `data.options` |
|---|---|---|
| `demo` | none (generated, see `data/demo.py`) | any `DemoConfig` field |
| `mtod` | `multilingual_task_oriented_dialog/<lang>/{train,eval,test}-<lang>.tsv` | `source_train_split` (`train`; `eval` where the English train file is missing), `dev_fraction` |
| `mldoc` | `mldoc/<language>.{train.<N>,dev,test}` | `train_size` (1000) |
| `semeval2016` | `semeval2016_absa_restaurants/{train,test}/restaurants_<split>_<language>.xml` | `dev_fraction` |
| `umsab` | `umsab_xlmt_sentiment/sentiment/<language>/{train,val,test}_{text,labels}.txt` (languages by folder name: `english`, `french`, ...) | none |
| `table` | any CSV / TSV / JSONL files | `files: {lang: {split: path}}`, `text`, `label`, `text_pair`, `format` |
| `xnli`, `pawsx`, `panx`, `conll` | see `data/xtreme.py` | |

Target languages contribute unlabelled text (their train split with labels
dropped, or an `unlabeled` split), and labelled dev and test splits for the report.
Where a source's dev split is the file it trains on, `dev_fraction` of it is held out.
"""

import dataclasses
import os
import pathlib
import random
import re

from keras_clx.data import languages, readers
from keras_clx.data import xtreme as _xtreme
from keras_clx.data.corpus import CrossLingualCorpus, LanguageData
from keras_clx.data.demo import DemoConfig, make_demo_corpus
from keras_clx.data.records import Example
from keras_clx.data.registry import dataset_dir, require_file
from keras_clx.data.semeval import read_semeval
from keras_clx.data.table import read_table
from keras_clx.errors import ClxError, DataError

_MLDOC_NAMES = languages.names(languages.MLDOC)
_SEMEVAL_NAMES = languages.names(languages.SEMEVAL2016)


def _hold_out(examples, fraction, seed):
    """Splits `examples` into (train, dev) with a seeded `fraction` held out."""
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    n_dev = max(1, int(round(fraction * len(shuffled))))
    return shuffled[n_dev:], shuffled[:n_dev]


def _load_demo(config, options, seed):
    fields = set(DemoConfig.__dataclass_fields__)
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ClxError(f"unknown demo option(s) {unknown}; valid: {sorted(fields)}")
    corpus = make_demo_corpus(DemoConfig(**options))
    return corpus.languages


def _load_mtod(config, options, seed):
    root = dataset_dir("mtod", config.data_dir)
    source_split = options.get("source_train_split", "train")
    languages = {}
    for lang in config.sources + config.targets:

        def read(split):
            return readers.read_mtod(require_file(root / lang / f"{split}-{lang}.tsv"), language=lang)

        if lang in config.sources:
            train = read(source_split)
            if source_split == "eval":
                train, dev = _hold_out(train, options.get("dev_fraction", 0.1), seed)
            else:
                dev = read("eval")
            languages[lang] = LanguageData(train=train, dev=dev, test=read("test"))
        else:
            languages[lang] = LanguageData(dev=read("eval"), test=read("test"), unlabeled=read("train"))
    return languages


def _load_mldoc(config, options, seed):
    root = dataset_dir("mldoc", config.data_dir)
    size = options.get("train_size", 1000)
    languages = {}
    for lang in config.sources + config.targets:
        if lang not in _MLDOC_NAMES:
            raise ClxError(f"MLDoc has no language {lang!r}; languages: {sorted(_MLDOC_NAMES)}")
        name = _MLDOC_NAMES[lang]

        def read(suffix):
            return readers.read_mldoc(require_file(root / f"{name}.{suffix}"), language=lang)

        train = read(f"train.{size}")
        data = LanguageData(dev=read("dev"), test=read("test"))
        if lang in config.sources:
            data.train = train
        else:
            data.unlabeled = train
        languages[lang] = data
    return languages


def _load_semeval(config, options, seed):

    root = dataset_dir("semeval2016", config.data_dir)
    task = "token" if config.task == "token" else "sentence_polarity"
    languages = {}
    for lang in config.sources + config.targets:
        if lang not in _SEMEVAL_NAMES:
            raise ClxError(f"SemEval-2016 has no language {lang!r}; languages: {sorted(_SEMEVAL_NAMES)}")

        def read(split):
            path = require_file(root / split / f"restaurants_{split}_{_SEMEVAL_NAMES[lang]}.xml")
            return read_semeval(path, language=lang, task=task)[0]

        train, dev = _hold_out(read("train"), options.get("dev_fraction", 0.1), seed)
        data = LanguageData(dev=dev, test=read("test"))
        if lang in config.sources:
            data.train = train
        else:
            data.unlabeled = train
        languages[lang] = data
    return languages


_UMSAB_LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _read_umsab(folder, split, language):
    """`<split>_text.txt` + `<split>_labels.txt`, aligned line by line (TweetEval format)."""
    text_path, label_path = require_file(folder / f"{split}_text.txt"), require_file(folder / f"{split}_labels.txt")
    texts = [t for _, t in readers.numbered_lines(text_path)]
    labels = [t.strip() for _, t in readers.numbered_lines(label_path)]
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels in {label_path.name}", path=text_path)
    examples = []
    for line, (text, label) in enumerate(zip(texts, labels), start=1):
        if label not in _UMSAB_LABELS:
            raise DataError(f"label {label!r} is not 0, 1 or 2", path=label_path, line=line)
        text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).strip()
        examples.append(Example(text, language, f"{split}:{line}", label=_UMSAB_LABELS[label]))
    return examples


def _load_umsab(config, options, seed):
    root = dataset_dir("umsab", config.data_dir) / "sentiment"
    languages = {}
    for lang in config.sources + config.targets:
        if not (root / lang).is_dir() and root.is_dir():
            known = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise ClxError(f"UMSAB has no language {lang!r}; languages: {known}")

        def read(split):
            return _read_umsab(root / lang, split, lang)

        data = LanguageData(dev=read("val"), test=read("test"))
        if lang in config.sources:
            data.train = read("train")
        else:
            data.unlabeled = [e.unlabeled() for e in read("train")]
        languages[lang] = data
    return languages


def _load_table(config, options, seed):
    files = options.get("files")
    if not isinstance(files, dict) or not files:
        raise ClxError("dataset 'table' needs data.options.files = {language: {split: path}}")
    root = pathlib.Path(config.data_dir or os.environ.get("CLX_DATA_DIR", "."))
    languages = {}
    for lang, splits in files.items():
        data = LanguageData()
        for split, path in splits.items():
            if split not in ("train", "dev", "test", "unlabeled"):
                raise ClxError(f"data.options.files.{lang}: unknown split {split!r} (train, dev, test, unlabeled)")
            path = require_file(root / path)
            label = None if split == "unlabeled" else options.get("label", "label")
            examples = read_table(
                path,
                text=options.get("text", "text"),
                label=label,
                format=options.get("format"),
                default_language=lang,
                text_pair=options.get("text_pair"),
            )
            setattr(data, split, examples)
        if lang in config.targets and not data.unlabeled:
            data.unlabeled, data.train = data.train, []
        languages[lang] = data
    return languages


LOADERS = {
    "demo": _load_demo,
    "mtod": _load_mtod,
    "mldoc": _load_mldoc,
    "semeval2016": _load_semeval,
    "table": _load_table,
    "umsab": _load_umsab,
}
_xtreme.register(LOADERS)


def _cap(examples, limit, seed):
    if limit is None or len(examples) <= limit:
        return examples
    return random.Random(seed).sample(examples, limit)


def _unique_ids(languages):
    """Gives every example an id unique in the corpus: `<language>/<reader id>`.

    Readers number examples by file name and line (`train.csv:12`), unique within
    one file only; two languages' files may share a name. A repeat within one
    language (a split listed twice, repeated ids in a file) gets `#2`, `#3`, ...
    """
    seen = {}
    for lang, data in languages.items():
        for split in ("train", "dev", "test", "unlabeled"):
            examples = []
            for example in getattr(data, split):
                key = f"{lang}/{example.id}"
                seen[key] = count = seen.get(key, 0) + 1
                if count > 1:
                    key = f"{key}#{count}"
                examples.append(dataclasses.replace(example, id=key))
            setattr(data, split, examples)


def load_corpus(config, seed=0):
    """Loads and validates the corpus a recipe's `data` section describes."""
    if config.dataset not in LOADERS:
        import difflib

        close = difflib.get_close_matches(config.dataset, list(LOADERS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ClxError(f"unknown dataset {config.dataset!r}{hint} (known: {', '.join(LOADERS)})")
    languages = LOADERS[config.dataset](config, dict(config.options), seed)
    _unique_ids(languages)
    for data in languages.values():
        data.train = _cap(data.train, config.max_train_examples, seed)
        for split in ("dev", "test", "unlabeled"):
            setattr(data, split, _cap(getattr(data, split), config.max_eval_examples, seed))
    corpus = CrossLingualCorpus(
        name=config.dataset,
        languages=languages,
        sources=list(config.sources),
        targets=list(config.targets),
        task=config.task,
    )
    return corpus.validate()
